"""Reading the facts through Ibis: one place that knows which files are visible and
which row is the current version of an order.

Queries elsewhere are Ibis expressions over ``Warehouse.table(name)``, so the same
definitions can later run on Spark or PostgreSQL.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from shopcrm.warehouse.facts import FactStore
from shopcrm.warehouse.tables import FACT_TABLES, FactTable

_DUCKDB_TO_ARROW: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DATE": pa.date32(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DECIMAL(18,2)": pa.decimal128(18, 2),
}


def arrow_schema(table: FactTable) -> pa.Schema:
    return pa.schema([(name, _DUCKDB_TO_ARROW[sql_type]) for name, sql_type in table.columns])


class Warehouse:
    """An Ibis DuckDB connection with one view per fact table (current versions only).

    Views are rebuilt when a new batch is published; the check is a directory
    listing, cheap enough to run before every query.
    """

    def __init__(self, facts: FactStore, *, memory_limit: str = "1GB") -> None:
        self.facts = facts
        self._memory_limit = memory_limit
        self._con: Any = None
        self._signature: tuple[str, ...] | None = None
        self._lock = threading.RLock()

    @property
    def con(self) -> Any:
        """The Ibis backend, views current as of the last published batch."""
        with self._lock:
            if self._con is None:
                self._con = ibis.duckdb.connect()
                self._con.raw_sql(f"SET memory_limit='{self._memory_limit}'")
                self._con.raw_sql("SET TimeZone='UTC'")
            signature = self.facts.signature()
            if signature != self._signature:
                self._register_views()
                self._signature = signature
            return self._con

    def _register_views(self) -> None:
        for table in FACT_TABLES.values():
            files = [str(p) for p in self.facts.committed_files(table.name)]
            all_versions = f"{table.name}__all"
            if files:
                self._con.read_parquet(files, table_name=all_versions)
            else:
                self._con.create_table(
                    all_versions, obj=arrow_schema(table).empty_table(), overwrite=True
                )
            self._con.create_view(
                table.name, current_versions(self._con.table(all_versions), table), overwrite=True
            )

    def table(self, name: str) -> ir.Table:
        """The current version of every row of a fact table."""
        return self.con.table(name)

    def all_versions(self, name: str) -> ir.Table:
        return self.con.table(f"{name}__all")

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.disconnect()
            self._con = None
            self._signature = None


def current_versions(t: ir.Table, table: FactTable) -> ir.Table:
    """Keep, per version key, the rows of the newest batch (all lines of an order)."""
    newest = t.batch_id.max().over(group_by=[t[k] for k in table.version_key])
    return t.filter(t.batch_id == newest)


def files_under(root: Path, table: str) -> list[Path]:
    """Every Parquet file of a table on disk, published or not (for maintenance tools)."""
    return sorted((root / table).rglob("*.parquet"))
