"""Know every customer: the features job, RFM, value tiers, lifecycle stages, CLV and
clusters.

``features`` (facts → per-customer features) and ``scoring`` (RFM, tiers, lifecycle) are
Ibis expressions that run unchanged on DuckDB and Spark; ``job`` puts them together;
``snapshots`` keeps each run as a Parquet snapshot; ``service`` runs the job for an
application context; ``settings`` holds the shop's choices; ``clv`` (BG/NBD,
Pareto/NBD, Gamma-Gamma) and ``clusters`` (k-means profiles) sit beside them. Nothing
is imported here so that ``store.schema`` can register ``segments.models`` without loading Ibis.
"""
