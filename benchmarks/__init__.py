"""Benchmarks: each measures shopcrm against a baseline in the same run."""
