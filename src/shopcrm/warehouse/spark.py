"""The facts on Spark: the published Parquet files read by a Spark session, current
versions chosen by the same rule as the DuckDB reader (the newest batch per version key).

For shops too large for one machine: point a Spark session (a cluster URL, or
``local[*]``) at the same ``warehouse/`` folder (or a copy on shared storage) and run the
features job on the returned tables; the parity suite proves the results equal DuckDB's.
"""

from __future__ import annotations

import uuid
from typing import Any

import ibis
import ibis.expr.types as ir

from shopcrm.warehouse.engine import arrow_schema
from shopcrm.warehouse.facts import FactStore
from shopcrm.warehouse.tables import FACT_TABLES, FactTable


def current_versions(table: ir.Table, fact: FactTable) -> ir.Table:
    """Every row of the newest batch of each version key (all lines of an order)."""
    newest = table.batch_id.max().over(group_by=[table[k] for k in fact.version_key])
    marked = table.mutate(_newest=newest)
    return marked.filter(marked.batch_id == marked._newest).drop("_newest")


def spark_tables(session: Any, facts: FactStore) -> dict[str, ir.Table]:
    """Ibis tables (PySpark backend) of the current version of every fact table."""
    con = ibis.pyspark.connect(session)
    prefix = f"facts_{uuid.uuid4().hex[:8]}"
    out: dict[str, ir.Table] = {}
    for name, fact in FACT_TABLES.items():
        files = [str(f) for f in facts.committed_files(name)]
        view = f"{prefix}_{name}"
        if files:
            frame = session.read.option("mergeSchema", "true").parquet(*files)
        else:
            frame = session.createDataFrame([], schema=_spark_schema(fact))
        frame.select(*fact.column_names).createOrReplaceTempView(view)
        out[name] = current_versions(con.table(view), fact)
    return out


def _spark_schema(fact: FactTable) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema(fact))
