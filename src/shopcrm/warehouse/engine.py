"""Reading the facts through Ibis: one place that knows which files are visible and
which row is the current version of an order.

The facts are many small Parquet files (a file per day per import). Scanning
thousands of files per query is slow, so the reader keeps the *current* version of
every table in an in-process DuckDB database and applies each newly published batch
incrementally: rows whose key the batch supersedes are deleted, the batch's newest
rows inserted. Queries elsewhere are Ibis expressions over ``Warehouse.table(name)``,
so the same definitions can later run on Spark or PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
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


def _listing(files: list[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


@dataclass(frozen=True)
class CustomerMap:
    """Where the current identity → customer mapping comes from (the operational store).

    Facts carry the identity ID and the customer ID of import time; merges change the
    customer later, so the reader re-maps ``customer_id`` whenever ``version`` moves.
    ``remapped`` gives (identity_id, customer_id) for every identity whose customer is
    not the identity itself.
    """

    version: Callable[[], int]
    remapped: Callable[[], pa.Table]


class Warehouse:
    """An Ibis DuckDB connection holding the current version of every fact table.

    Checking for new batches is a directory listing, cheap enough before every query;
    loading a batch reads only that batch's files.
    """

    def __init__(self, facts: FactStore, *, memory_limit: str = "2GB",
                 customer_map: CustomerMap | None = None) -> None:
        self.facts = facts
        self.customer_map = customer_map
        self._map_version: int | None = None
        self._memory_limit = memory_limit
        self._con: Any = None
        self._signature: tuple[str, ...] | None = None
        self._loaded: set[int] = set()
        self._lock = threading.RLock()

    @property
    def con(self) -> Any:
        """The Ibis backend, current as of the last published batch."""
        with self._lock:
            if self._con is None:
                self._con = ibis.duckdb.connect()
                self._con.raw_sql(f"SET memory_limit='{self._memory_limit}'")
                self._con.raw_sql("SET TimeZone='UTC'")
                self._con.raw_sql("SET enable_progress_bar=false")
                for table in FACT_TABLES.values():
                    self._con.create_table(table.name, obj=arrow_schema(table).empty_table(),
                                           overwrite=True)
            signature = self.facts.signature()
            loaded = False
            if signature != self._signature:
                loaded = self._load_new_batches()
                self._signature = signature
            if self.customer_map is not None:
                version = self.customer_map.version()
                if loaded or version != self._map_version:
                    self._remap_customers()
                    self._map_version = version
            return self._con

    def _remap_customers(self) -> None:
        """Point every fact at its identity's current customer (after merges, splits)."""
        assert self.customer_map is not None
        remapped = self.customer_map.remapped()
        raw = self._con.raw_sql
        self._con.con.register("_cmap_arrow", remapped)
        raw("CREATE OR REPLACE TEMP TABLE _cmap AS SELECT * FROM _cmap_arrow")
        self._con.con.unregister("_cmap_arrow")
        for table in FACT_TABLES.values():
            if "identity_id" not in table.column_names:
                continue
            name = table.name
            raw(f"UPDATE {name} SET customer_id = identity_id WHERE identity_id IS NOT NULL "
                f"AND customer_id IS DISTINCT FROM identity_id "
                f"AND identity_id NOT IN (SELECT identity_id FROM _cmap)")
            raw(f"UPDATE {name} SET customer_id = m.customer_id FROM _cmap m "
                f"WHERE {name}.identity_id = m.identity_id "
                f"AND {name}.customer_id IS DISTINCT FROM m.customer_id")
        raw("DROP TABLE _cmap")

    def _load_new_batches(self) -> bool:
        fresh = [m for m in self.facts.manifests() if m.batch_id not in self._loaded]
        if not fresh:
            return False
        for table in FACT_TABLES.values():
            files = [self.facts.root / rel for m in fresh for rel in m.files(table.name)]
            if files:
                self._apply(table, files)
        self._loaded.update(m.batch_id for m in fresh)
        return True

    def _apply(self, table: FactTable, files: list[Path]) -> None:
        keys = ", ".join(table.version_key)
        columns = ", ".join(table.column_names)
        raw = self._con.raw_sql
        raw(f"CREATE OR REPLACE TEMP TABLE _incoming AS SELECT {columns} FROM "
            f"read_parquet({_listing(files)}, union_by_name = true) "
            f"QUALIFY batch_id = max(batch_id) OVER (PARTITION BY {keys})")
        raw(f"DELETE FROM {table.name} WHERE ({keys}) IN (SELECT DISTINCT {keys} FROM _incoming)")
        raw(f"INSERT INTO {table.name} SELECT {columns} FROM _incoming")
        raw("DROP TABLE _incoming")

    def table(self, name: str) -> ir.Table:
        """The current version of every row of a fact table.

        Looking a table up queries the connection (its schema), so it takes the lock
        like :meth:`execute`: one DuckDB connection serves every request thread.
        """
        with self._lock:
            return self.con.table(name)

    def execute(self, expr: ir.Table | ir.Scalar | ir.Column) -> Any:
        """Run an expression on the shared connection (one query at a time)."""
        with self._lock:
            return expr.to_pyarrow()

    def execute_here(self, expr: ir.Table | ir.Scalar | ir.Column) -> Any:
        """Run an expression on this connection even when it reads only in-memory tables
        (``execute`` would hand such an expression to Ibis' default backend)."""
        with self._lock:
            return self.con.to_pyarrow(expr)

    def all_versions(self, name: str) -> ir.Table:
        """Every version ever written (reads the files; for audits and tests)."""
        files = self.facts.committed_files(name)
        if not files:
            return ibis.memtable(arrow_schema(FACT_TABLES[name]).empty_table())
        with self._lock:
            return self.con.read_parquet([str(f) for f in files])

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.disconnect()
            self._con = None
            self._signature = None
            self._map_version = None
            self._loaded = set()

