"""``make bench``: every benchmark, each against a same-run baseline.

Prints a table and writes ``benchmarks/out/latest.md`` for docs/benchmarks.md.
Environment: ``SHOPCRM_BENCH_ROWS`` (default 1,000,000),
``SHOPCRM_BENCH_POSTGRES`` (a PostgreSQL URL to also measure that store),
``SHOPCRM_BENCH_LOYALTY_ORDERS`` (completed orders the earning job credits, default
10,000,000), ``SHOPCRM_BENCH_LEDGER_ENTRIES`` (single movements, default 5,000),
``SHOPCRM_BENCH_ONLY`` (``import`` or ``loyalty`` to run one benchmark).
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


def _stores() -> list[tuple[str, str]]:
    stores = [("SQLite", "")]
    if os.environ.get("SHOPCRM_BENCH_POSTGRES"):
        stores.append(("PostgreSQL", os.environ["SHOPCRM_BENCH_POSTGRES"]))
    return stores


def loyalty_benchmark(entries: int, orders: int) -> list[str]:
    """Ledger movements one per transaction (the API path), and the batch earning job."""
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        f"### Loyalty ledger: {entries:,} single movements (2/3 earn, 1/3 redeem), "
        "one transaction each",
        "",
        "| store | run | time (s) | entries/s | peak RSS (MB) | × baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, url in _stores():
        home = str(OUT / f"loyalty-{label.lower()}")
        base = run_step("benchmarks.loyalty_steps", "ledger_baseline", home, url, str(entries))
        real = run_step("benchmarks.loyalty_steps", "ledger_entries", home, url, str(entries))
        lines.append(f"| {label} | one-row INSERT per transaction (baseline) | "
                     f"{base.seconds:.2f} | {entries / base.seconds:,.0f} | "
                     f"{base.peak_rss_mb:,.0f} | 1.00 |")
        lines.append(f"| {label} | shopcrm earn / redeem | {real.seconds:.2f} | "
                     f"{entries / real.seconds:,.0f} | {real.peak_rss_mb:,.0f} | "
                     f"{real.seconds / base.seconds:.2f} |")
    if orders <= 0:
        return lines
    lines += [
        "",
        f"### Loyalty batch earning: {orders:,} completed orders "
        f"({max(1, orders // 5):,} customers)",
        "",
        "| store | run | time (s) | orders/s | peak RSS (MB) | × baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    base = run_step("benchmarks.loyalty_steps", "earn_baseline",
                    str(OUT / "loyalty-baseline"), "", str(orders))
    lines.append(f"| — | DuckDB loads the facts and sums every order's points (baseline) | "
                 f"{base.seconds:.2f} | {orders / base.seconds:,.0f} | "
                 f"{base.peak_rss_mb:,.0f} | 1.00 |")
    for label, url in _stores():
        home = str(OUT / f"loyalty-{label.lower()}")
        real = run_step("benchmarks.loyalty_steps", "batch_earn", home, url, str(orders))
        lines.append(f"| {label} | shopcrm earning job (entry + lot per order) | "
                     f"{real.seconds:.2f} | {orders / real.seconds:,.0f} | "
                     f"{real.peak_rss_mb:,.0f} | {real.seconds / base.seconds:.2f} |")
        lines.append(f"|   ↳ earned {real.result['earned']:,} orders, "
                     f"{real.result['points']:,} points | | | | | |")
    return lines


def main() -> None:
    rows = int(os.environ.get("SHOPCRM_BENCH_ROWS", "1000000"))
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## Run of {started}", "", f"Machine: {machine()}", ""]
    only = os.environ.get("SHOPCRM_BENCH_ONLY", "")
    if only in ("", "import"):
        lines += import_benchmark(rows)
    if only in ("", "loyalty"):
        lines += loyalty_benchmark(
            int(os.environ.get("SHOPCRM_BENCH_LEDGER_ENTRIES", "5000")),
            int(os.environ.get("SHOPCRM_BENCH_LOYALTY_ORDERS", "10000000")))
    text = "\n".join(lines) + "\n"
    print(text)
    (OUT / "latest.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
