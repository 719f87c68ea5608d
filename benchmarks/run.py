"""``make bench``: every benchmark, each against a same-run baseline.

Prints a table and writes ``benchmarks/out/latest.md`` for docs/benchmarks.md.
Environment: ``SHOPCRM_BENCH_ROWS`` (default 1,000,000),
``SHOPCRM_BENCH_POSTGRES`` (a PostgreSQL URL to also measure that store),
``SHOPCRM_BENCH_FEATURE_ORDERS`` (default 10,000,000 orders for the features job),
``SHOPCRM_BENCH_LOYALTY_ORDERS`` (completed orders the earning job credits, default
10,000,000), ``SHOPCRM_BENCH_LEDGER_ENTRIES`` (ledger movements per run, default 5,000),
``SHOPCRM_BENCH_LEDGER_CLIENTS`` (concurrent ledger clients, default 32; the group-commit
run also uses four times as many),
``SHOPCRM_BENCH_IDENTITY_RECORDS`` (default 1,000,000 source records to resolve),
``SHOPCRM_BENCH_CUSTOMERS`` (CLV and clusters, default 1,000,000),
``SHOPCRM_BENCH_MESSAGES`` (channel dispatch, default 1,000,000),
``SHOPCRM_BENCH_SEGMENT_ORDERS`` (the segment size estimate's shop, default 10,000,000
orders over 1,000,000 customers),
``SHOPCRM_BENCH_CAMPAIGN_RECIPIENTS`` (campaign dispatch, default 1,000,000),
``SHOPCRM_BENCH_ONLY`` (comma-separated: ``import``, ``features``, ``segments``,
``loyalty``, ``identity``, ``clv``, ``channels``,
``campaigns``; default all).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from typing import Any

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
        "Import peak RSS is read when the import ends, before identity resolution starts; "
        "resolution (its own target, issue 4) is timed apart in the same process.",
        "",
        "| run | time (s) | CPU (s) | rows/s | peak RSS (MB) | × DuckDB read_csv |",
        "|---|---:|---:|---:|---:|---:|",
        f"| DuckDB `read_csv` into a table (baseline) | {baseline.seconds:.2f} | "
        f"{float(baseline.result.get('cpu_seconds', 0)):.2f} | "
        f"{rows / baseline.seconds:,.0f} | {baseline.peak_rss_mb:,.0f} | 1.00 |",
    ]
    floor = run_step("benchmarks.steps", "duckdb_read_write_facts", str(csv_path),
                     str(OUT / "floor-facts"))
    lines.append(
        f"| DuckDB `read_csv` + day-partitioned Parquet of the non-personal columns, "
        f"nothing else (the design's floor) | {floor.seconds:.2f} | "
        f"{float(floor.result.get('cpu_seconds', 0)):.2f} | {rows / floor.seconds:,.0f} | "
        f"{floor.peak_rss_mb:,.0f} | {floor.seconds / baseline.seconds:.2f} |")
    stores = [("SQLite", "")]
    if os.environ.get("SHOPCRM_BENCH_POSTGRES"):
        stores.append(("PostgreSQL", os.environ["SHOPCRM_BENCH_POSTGRES"]))
    for label, url in stores:
        home = OUT / f"home-{label.lower()}"
        measured = run_step("benchmarks.steps", "shopcrm_import", str(csv_path), str(home), url)
        result = measured.result
        rss = float(result.get("import_rss_mb", measured.peak_rss_mb))
        lines.append(
            f"| shopcrm import → {label} + Parquet | {measured.seconds:.2f} | "
            f"{float(result['cpu_seconds']):.2f} | {rows / measured.seconds:,.0f} | "
            f"{rss:,.0f} | {measured.seconds / baseline.seconds:.2f} |")
        lines.append(
            f"|   ↳ imported {result['imported']:,} orders, {result['identities']:,} "
            f"identities, rejected {result['rejected']:,} | | | | | |")
        lines.append(
            f"| then identity resolution ({label}, not in the target) | "
            f"{float(result['resolve_seconds']):.2f} | "
            f"{float(result['resolve_cpu_seconds']):.2f} | | {measured.peak_rss_mb:,.0f} | |")
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


def segments_benchmark(orders: int) -> list[str]:
    """The live size estimate of a five-condition segment with behaviour windows, against
    the same segment as a hand-written DuckDB query, on the features benchmark's shop."""
    folder = OUT / f"features_{orders}"
    run_step("benchmarks.steps", "features_data", str(folder), str(orders))
    run_step("benchmarks.segment_steps", "snapshot", str(folder))
    base = run_step("benchmarks.segment_steps", "estimate_sql", str(folder))
    tuned = run_step("benchmarks.segment_steps", "estimate_sql_staged", str(folder))
    real = run_step("benchmarks.segment_steps", "estimate_shopcrm", str(folder))
    lines = [
        f"### Segment size estimate: {orders:,} orders, {orders // 10:,} customers, "
        f"{orders // 2:,} events; 5 conditions, 3 behaviour windows",
        "",
        f"{base.result['runs']} estimates each, facts held in an in-process DuckDB "
        "(2 threads) as the app's warehouse holds them; loading not timed.",
        "",
        "| run | p50 (ms) | p95 (ms) | first (ms) | × SQL p50 | peak RSS (MB) | members |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, m in (("hand-written DuckDB SQL (baseline)", base),
                     ("hand-tuned DuckDB SQL: staged, materialised CTEs", tuned),
                     ("shopcrm rule tree → Ibis → DuckDB"
                      + (" (staged)" if real.result.get("staged") else ""), real)):
        lines.append(
            f"| {label} | {m.result['p50_ms']} | {m.result['p95_ms']} | "
            f"{m.result['first_ms']} | "
            f"{float(m.result['p50_ms']) / float(base.result['p50_ms']):.2f} | "  # type: ignore[arg-type]
            f"{m.peak_rss_mb:,.0f} | {int(m.result['size']):,} |")  # type: ignore[call-overload]
    return lines


def identity_benchmark(records: int) -> list[str]:
    """Resolve ``records`` source records from scratch, then add 1% more to the resolved
    graph; baseline: raw DuckDB grouping the same records by exact phone."""
    home = OUT / f"identity_{records}"
    if home.exists():
        shutil.rmtree(home)
    run_step("benchmarks.identity_steps", "generate", str(home), str(records))
    base = run_step("benchmarks.identity_steps", "baseline", str(home))
    full = run_step("benchmarks.identity_steps", "full", str(home))
    added = max(records // 100, 1)
    inc = run_step("benchmarks.identity_steps", "incremental", str(home), str(added))
    lines = [
        f"### Identity resolution: {records:,} source records, then {added:,} more",
        "",
        "| run | time (s) | records/s | peak RSS (MB) | pairwise precision | recall |",
        "|---|---:|---:|---:|---:|---:|",
        f"| raw DuckDB: group by exact phone (baseline) | {base.seconds:.2f} | "
        f"{records / base.seconds:,.0f} | {base.peak_rss_mb:,.0f} | "
        f"{base.result['precision']} | {base.result['recall']} |",
    ]
    for label, m, n in (("shopcrm full resolution (keys + Splink, trained)", full, records),
                        (f"shopcrm incremental: {added:,} new records", inc, added)):
        lines.append(f"| {label} | {m.seconds:.2f} | {n / m.seconds:,.0f} | "
                     f"{m.peak_rss_mb:,.0f} | {m.result['precision']} | {m.result['recall']} |")
    found = run_step("benchmarks.identity_steps", "search", str(home))
    lines.append("|   ↳ customer search on the resolved shop, p50 / p95 ms: " + ", ".join(
        f"{kind} {t['p50_ms']} / {t['p95_ms']}" for kind, t in found.result.items()  # type: ignore[attr-defined]
    ) + " | | | | | |")
    lines.append(f"|   ↳ incremental / full = {inc.seconds / full.seconds:.1%}; full run: "
                 f"{full.result['merges']:,} merges, {full.result['reviews_added']:,} to "
                 f"review, {full.result['shared_identifiers']:,} shared identifiers | | | | | |")
    return lines


def _stores() -> list[tuple[str, str]]:
    stores = [("SQLite", "")]
    if os.environ.get("SHOPCRM_BENCH_POSTGRES"):
        stores.append(("PostgreSQL", os.environ["SHOPCRM_BENCH_POSTGRES"]))
    return stores


def loyalty_benchmark(entries: int, orders: int, clients: int) -> list[str]:
    """Ledger movements as callers make them (one client, many clients each with its own
    connection, many clients through group commit, one caller posting in bulk), each
    against raw-driver inserts of the same entry rows; then the batch earning job."""
    OUT.mkdir(parents=True, exist_ok=True)
    many = clients * 4
    lines = [
        f"### Loyalty ledger: {entries:,} movements per run (2 of 3 earn 10 points, 1 of 3 "
        "redeem 5), 10,000 customers",
        "",
        "An *entry* is one row of `loyalty_entries`; every movement here writes exactly one "
        "(no expiry is due), so movements/s = entries/s. *Rows/s* counts everything written "
        "per second: entries, lots (one per earn) and allocations (one per redeem), besides "
        "the account, lot and key updates and reads. Baselines: the same entry rows written "
        "by the raw driver into a copy of `loyalty_entries` (same columns and indexes) — one "
        "`INSERT` + `COMMIT` per row from the same number of clients, or `COPY` "
        "(PostgreSQL) / `executemany` (SQLite) 1,000 rows per transaction.",
        "",
        "| store | run | clients | time (s) | entries/s | rows/s | peak RSS (MB) "
        "| × baseline time |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    runs = [("direct", 1, "one caller, one transaction per movement"),
            ("direct", clients, "clients each with its own connection, one transaction "
             "per movement"),
            ("grouped", clients, "the same clients through `PostingWriter` (group commit)"),
            ("grouped", many, "more clients through `PostingWriter`"),
            ("bulk", 1, "one caller, `postings.post` 1,000 movements per transaction")]
    for label, url in _stores():
        home = str(OUT / f"loyalty-{label.lower()}")
        baselines: dict[tuple[str, int], Any] = {}
        for mode, n, text in runs:
            base_mode = "bulk" if mode == "bulk" else "single"
            # Raw clients need a connection each: the server's 100 connections cap the
            # baseline at ``clients`` (the group-commit run needs one connection).
            base_n = min(n, clients)
            if (base_mode, base_n) not in baselines:
                base = run_step("benchmarks.loyalty_steps", "entries_baseline", home, url,
                                base_mode, str(entries), str(base_n))
                baselines[(base_mode, base_n)] = base
                what = ("raw `COPY`/`executemany`, 1,000 rows per transaction"
                        if base_mode == "bulk" else "raw `INSERT` + `COMMIT` per row")
                lines.append(f"| {label} | {what} (baseline) | {base_n} | "
                             f"{base.seconds:.2f} | {entries / base.seconds:,.0f} | "
                             f"{entries / base.seconds:,.0f} | {base.peak_rss_mb:,.0f} | 1.00 |")
            base = baselines[(base_mode, base_n)]
            real = run_step("benchmarks.loyalty_steps", "ledger_movements", home, url, mode,
                            str(entries), str(n))
            r = real.result
            rows = int(r["entries"]) + int(r["lots"]) + int(r["allocations"])
            note = (f"; {entries / int(r['rounds']):.1f} movements per transaction"
                    if mode == "grouped" and r["rounds"] else "")
            print(f"{label} {mode} {n}: {real.seconds:.2f} s {r}", flush=True)
            lines.append(f"| {label} | shopcrm: {text}{note} | {n} | {real.seconds:.2f} | "
                         f"{int(r['entries']) / real.seconds:,.0f} | {rows / real.seconds:,.0f} "
                         f"| {real.peak_rss_mb:,.0f} | {real.seconds / base.seconds:.2f} |")
    if orders <= 0:
        return lines
    facts = OUT / f"loyalty_facts_{orders}"
    run_step("benchmarks.loyalty_steps", "earn_data", str(facts), str(orders))
    lines += [
        "",
        f"### Loyalty batch earning: {orders:,} completed orders "
        f"({max(1, orders // 5):,} customers)",
        "",
        "| store | run | time (s) | orders/s | peak RSS (MB) | × baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    base = run_step("benchmarks.loyalty_steps", "earn_baseline", str(facts),
                    str(OUT / "loyalty-earn-baseline"), "", str(orders))
    lines.append(f"| — | DuckDB loads the facts and sums every order's points (baseline) | "
                 f"{base.seconds:.2f} | {orders / base.seconds:,.0f} | "
                 f"{base.peak_rss_mb:,.0f} | 1.00 |")
    for label, url in _stores():
        real = run_step("benchmarks.loyalty_steps", "batch_earn", str(facts),
                        str(OUT / f"loyalty-earn-{label.lower()}"), url, str(orders))
        print(f"{label} batch_earn: {real.seconds:.2f} s {real.peak_rss_mb:,.0f} MB "
              f"{real.result}", flush=True)
        lines.append(f"| {label} | shopcrm earning job (entry + lot per order) | "
                     f"{real.seconds:.2f} | {orders / real.seconds:,.0f} | "
                     f"{real.peak_rss_mb:,.0f} | {real.seconds / base.seconds:.2f} |")
        lines.append(f"|   ↳ earned {real.result['earned']:,} orders, "
                     f"{real.result['points']:,} points; {real.result['entries']:,} entries "
                     f"and {real.result['lots']:,} lots written | | | | |")
    return lines


def main() -> None:
    rows = int(os.environ.get("SHOPCRM_BENCH_ROWS", "1000000"))
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## Run of {started}", "", f"Machine: {machine()}", ""]
    only = {o.strip() for o in os.environ.get("SHOPCRM_BENCH_ONLY", "").split(",") if o.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    if wanted("import"):
        lines += [*import_benchmark(rows), ""]
    if wanted("identity"):
        lines += [*identity_benchmark(
            int(os.environ.get("SHOPCRM_BENCH_IDENTITY_RECORDS", "1000000"))), ""]
    if wanted("features"):
        lines += [*features_benchmark(
            int(os.environ.get("SHOPCRM_BENCH_FEATURE_ORDERS", "10000000"))), ""]
    if wanted("segments"):
        lines += [*segments_benchmark(
            int(os.environ.get("SHOPCRM_BENCH_SEGMENT_ORDERS", "10000000"))), ""]
    if wanted("clv"):
        from benchmarks.clv import clusters_benchmark, clv_benchmark

        customers = int(os.environ.get("SHOPCRM_BENCH_CUSTOMERS", "1000000"))
        lines += [*clv_benchmark(customers), "", *clusters_benchmark(customers), ""]
    if wanted("loyalty"):
        lines += [*loyalty_benchmark(
            int(os.environ.get("SHOPCRM_BENCH_LEDGER_ENTRIES", "5000")),
            int(os.environ.get("SHOPCRM_BENCH_LOYALTY_ORDERS", "10000000")),
            int(os.environ.get("SHOPCRM_BENCH_LEDGER_CLIENTS", "32"))), ""]
    if wanted("channels"):
        from benchmarks.channels import benchmark as channels

        lines += [*channels(int(os.environ.get("SHOPCRM_BENCH_MESSAGES", "1000000")),
                            int(os.environ.get("SHOPCRM_BENCH_GATEWAY_SINGLE", "20000"))), ""]
    if wanted("campaigns"):
        from benchmarks.campaigns import benchmark as campaigns

        lines += [*campaigns(int(os.environ.get("SHOPCRM_BENCH_CAMPAIGN_RECIPIENTS",
                                                "1000000")))]
    text = "\n".join(lines) + "\n"
    print(text)
    (OUT / "latest.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
