"""The analytical store: append-only Parquet facts, read through Ibis (DuckDB by default)."""
