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
import pyarrow as pa

from shopcrm.warehouse.engine import arrow_schema
from shopcrm.warehouse.facts import FactStore
from shopcrm.warehouse.tables import FACT_TABLES, FactTable


def current_versions(table: ir.Table, fact: FactTable) -> ir.Table:
    """Every row of the newest batch of each version key (all lines of an order)."""
    newest = table.batch_id.max().over(group_by=[table[k] for k in fact.version_key])
    marked = table.mutate(_newest=newest)
    return marked.filter(marked.batch_id == marked._newest).drop("_newest")


def spark_tables(session: Any, facts: FactStore,
                 customer_map: pa.Table | None = None) -> dict[str, ir.Table]:
    """Ibis tables (PySpark backend) of the current version of every fact table.

    ``customer_map`` (identity_id, customer_id of every identity whose customer is not
    the identity itself — :class:`~shopcrm.warehouse.engine.CustomerMap`) points facts at
    their current customer after merges, exactly as the DuckDB reader does."""
    con = ibis.pyspark.connect(session)
    prefix = f"facts_{uuid.uuid4().hex[:8]}"
    out: dict[str, ir.Table] = {}
    mapping = None
    if customer_map is not None:
        map_view = f"{prefix}_customer_map"
        rows = customer_map.rename_columns(["identity_id", "mapped_customer_id"])
        session.createDataFrame(rows.to_pandas(), schema="identity_id bigint, "
                                "mapped_customer_id bigint").createOrReplaceTempView(map_view)
        mapping = con.table(map_view)
    for name, fact in FACT_TABLES.items():
        files = [str(f) for f in facts.committed_files(name)]
        view = f"{prefix}_{name}"
        if files:
            frame = session.read.option("mergeSchema", "true").parquet(*files)
        else:
            frame = session.createDataFrame([], schema=_spark_schema(fact))
        frame.select(*fact.column_names).createOrReplaceTempView(view)
        current = current_versions(con.table(view), fact)
        if mapping is not None and "identity_id" in fact.column_names:
            current = remap_customers(current, mapping, fact)
        out[name] = current
    return out


def remap_customers(table: ir.Table, mapping: ir.Table, fact: FactTable) -> ir.Table:
    """The current customer of each fact: the mapped one, else the identity itself."""
    joined = table.left_join(mapping, table.identity_id == mapping.identity_id)
    customer = ibis.cases(
        (joined.mapped_customer_id.notnull(), joined.mapped_customer_id),
        (joined.identity_id.notnull(), joined.identity_id),
        else_=joined.customer_id)
    return joined.mutate(customer_id=customer).select(*fact.column_names)


def _spark_schema(fact: FactTable) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema(fact))
