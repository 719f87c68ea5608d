"""Customers as people see them: lists, search, and (later) the 360° profile."""
