"""``column IN (a list)`` with the list bound as *one* value.

An expanding ``IN (:ids)`` of 2,000 IDs makes SQLAlchemy render 2,000 bind parameters
and process each of them on every execution — per batch of a campaign dispatch that
cost more than the database's own work. Bound as one value the statement compiles
once (cached) and the driver passes one parameter: a JSON array read by
``json_each`` on SQLite, an array compared with ``= ANY`` on PostgreSQL. Other
dialects fall back to the expanding form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, String, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import literal_column


def in_list(column: ColumnElement[Any], dialect: str, name: str, *,
            text: bool = False) -> ColumnElement[bool]:
    """``column`` is one of the values bound (by :func:`list_value`) as ``name``."""
    if dialect == "postgresql":
        kind = postgresql.ARRAY(String() if text else BigInteger())
        return column == any_(bindparam(name, type_=kind))
    if dialect == "sqlite":
        values: Select[tuple[Any]] = select(literal_column("value")).select_from(
            func.json_each(bindparam(name, type_=String())))
        return column.in_(values.scalar_subquery())
    return column.in_(bindparam(name, expanding=True))


def list_value(values: Iterable[Any], dialect: str) -> Any:
    """The bound value for :func:`in_list`."""
    items = list(values)
    if dialect == "sqlite":
        return json.dumps(items, separators=(",", ":"))
    return items
