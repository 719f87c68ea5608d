"""The text form bulk loads give values that are not text.

Rows written past SQLAlchemy (DuckDB CSV into ``COPY``, SQLite scratch loads,
``executemany``) must carry what SQLAlchemy itself would have stored.
"""

from __future__ import annotations

TIMESTAMP_TEXT = "%Y-%m-%d %H:%M:%S.%f"
"""A UTC timestamp as SQLAlchemy's ``DateTime`` keeps it in SQLite; PostgreSQL reads it
too. A strftime format, for DuckDB and Python alike."""
