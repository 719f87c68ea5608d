"""``make bench``: every benchmark, each against a same-run baseline.

Prints a table and writes ``benchmarks/out/latest.md`` for docs/benchmarks.md.
Environment: ``SHOPCRM_BENCH_ROWS`` (default 1,000,000),
``SHOPCRM_BENCH_POSTGRES`` (a PostgreSQL URL to also measure that store),
``SHOPCRM_BENCH_FEATURE_ORDERS`` (default 10,000,000 orders for the features job),
``SHOPCRM_BENCH_ONLY`` (``import`` or ``features`` to run one of them).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from benchmarks.common import OUT, machine, run_step
from benchmarks.taobao_file import write


def import_benchmark(rows: int) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path = OUT / f"taobao_{rows}.csv"
    if not csv_path.exists():
        write(csv_path, rows)
    size_mb = csv_path.stat().st_size / 1024 / 1024
    baseline = run_step("benchmarks.steps", "duckdb_read", str(csv_path))
    lines = [
        f"### Import: {rows:,} Taobao-format order rows ({size_mb:,.0f} MB, UTF-8 with BOM)",
        "",
        "| run | time (s) | rows/s | peak RSS (MB) | × DuckDB read_csv |",
        "|---|---:|---:|---:|---:|",
        f"| DuckDB `read_csv` into a table (baseline) | {baseline.seconds:.2f} | "
        f"{rows / baseline.seconds:,.0f} | {baseline.peak_rss_mb:,.0f} | 1.00 |",
    ]
    stores = [("SQLite", "")]
    if os.environ.get("SHOPCRM_BENCH_POSTGRES"):
        stores.append(("PostgreSQL", os.environ["SHOPCRM_BENCH_POSTGRES"]))
    for label, url in stores:
        home = OUT / f"home-{label.lower()}"
        measured = run_step("benchmarks.steps", "shopcrm_import", str(csv_path), str(home), url)
        result = measured.result
        lines.append(
            f"| shopcrm import → {label} + Parquet | {measured.seconds:.2f} | "
            f"{rows / measured.seconds:,.0f} | {measured.peak_rss_mb:,.0f} | "
            f"{measured.seconds / baseline.seconds:.2f} |")
        lines.append(
            f"|   ↳ imported {result['imported']:,} orders, {result['identities']:,} "
            f"identities, rejected {result['rejected']:,} | | | | |")
    return lines


def features_benchmark(orders: int) -> list[str]:
    """The features job against a hand-written DuckDB RFM query and pandas, same data."""
    # Generated in a child process: a child inherits its parent's peak RSS across
    # fork + exec, so generating in this process would inflate every step's figure.
    folder = OUT / f"features_{orders}"
    run_step("benchmarks.steps", "features_data", str(folder), str(orders))
    runs = [
        ("hand-written DuckDB SQL: RFM (baseline)", run_step("benchmarks.steps", "rfm_sql",
                                                             str(folder))),
        ("shopcrm job, RFM part (Ibis → DuckDB)", run_step("benchmarks.steps", "rfm_ibis",
                                                          str(folder))),
        ("shopcrm full features job (Ibis → DuckDB)", run_step("benchmarks.steps",
                                                               "features_job", str(folder))),
        ("pandas groupby: RFM", run_step("benchmarks.steps", "rfm_pandas", str(folder))),
        ("pandas: the features job's main part", run_step("benchmarks.steps",
                                                          "features_pandas", str(folder))),
    ]
    base = runs[0][1].seconds
    pandas = runs[3][1].seconds
    pandas_full = runs[4][1].seconds
    lines = [
        f"### Features job: {orders:,} orders, {orders // 10:,} customers, "
        f"{orders:,} order lines, {orders // 2:,} events",
        "",
        "pandas ÷ run: the pandas RFM's time over the run's (RFM rows), the pandas features "
        "job's time over the run's (full-job rows).",
        "",
        "| run | time (s) | peak RSS (MB) | × SQL RFM | pandas ÷ run | buyers | R/F/M score sums |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for i, (label, m) in enumerate(runs):
        reference = pandas_full if i in (2, 4) else pandas
        lines.append(
            f"| {label} | {m.seconds:.2f} | {m.peak_rss_mb:,.0f} | {m.seconds / base:.2f} | "
            f"{reference / m.seconds:.1f} | {m.result.get('buyers', 0):,} | "
            f"{m.result.get('score_sums', '')} |")
    return lines


def main() -> None:
    rows = int(os.environ.get("SHOPCRM_BENCH_ROWS", "1000000"))
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## Run of {started}", "", f"Machine: {machine()}", ""]
    if os.environ.get("SHOPCRM_BENCH_ONLY", "") != "features":
        lines += import_benchmark(rows)
        lines.append("")
    if os.environ.get("SHOPCRM_BENCH_ONLY", "") != "import":
        lines += features_benchmark(
            int(os.environ.get("SHOPCRM_BENCH_FEATURE_ORDERS", "10000000")))
    text = "\n".join(lines) + "\n"
    print(text)
    (OUT / "latest.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
