"""Knowing every customer: features, RFM, lifecycle, tags, CLV, clusters and segments."""
