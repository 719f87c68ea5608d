"""CLV benchmark: fit BG/NBD + Gamma-Gamma and predict for N simulated customers.

``python -m benchmarks.clv`` runs the measured step in a fresh process (via
:func:`benchmarks.common.run_step`, so peak RSS is that process's own) and prints a
Markdown table. ``SHOPCRM_BENCH_CUSTOMERS`` sets N (default 1,000,000).

The shop is drawn from the BG/NBD and Gamma-Gamma stories themselves
(:mod:`shopcrm.segments.clv_simulate`): customers arriving over two years, times in
whole days as a summary of order dates has them. Knowing the true parameters, the
table also shows how well the fit recovers them.

It also times customer clustering (:func:`clusters_benchmark`). To wire both into
``make bench``, ``benchmarks/run.py`` would add their lines to its report
(``lines += ["", *clv_benchmark(n), "", *clusters_benchmark(n)]`` in ``main``).
"""

from __future__ import annotations

import os
import sys
import time

TRUE_PURCHASES = {"r": 0.6, "alpha": 120.0, "a": 0.9, "b": 3.0}
TRUE_SPEND = {"p": 5.0, "q": 4.0, "gamma": 60.0}


def main(argv: list[str]) -> dict[str, object]:
    """The measured step: simulate, then time fit + predict (simulation not counted).
    ``["clusters", n]`` times customer clustering instead."""
    if argv and argv[0] == "clusters":
        return clusters_step(int(argv[1]))
    import numpy as np

    from shopcrm.segments.clv import ClvSettings, CustomerSummary, fit_models, predict
    from shopcrm.segments.clv_models import BgNbd, GammaGamma, distinct_rows
    from shopcrm.segments.clv_simulate import simulate_shop

    n = int(argv[0]) if argv else 1_000_000
    shop = simulate_shop(n, purchases=BgNbd(**TRUE_PURCHASES), spend=GammaGamma(**TRUE_SPEND),
                         max_T=730, seed=42)
    # spend in cents, as money is stored
    monetary = np.round(shop.monetary_value, 2)
    started = time.perf_counter()
    summary = CustomerSummary.of(customer_id=np.arange(n), frequency=shop.frequency,
                                 recency=shop.recency, T=shop.T, monetary_value=monetary)
    validated = time.perf_counter()
    purchases, spend, _ = fit_models(summary, model="bgnbd")
    fitted = time.perf_counter()
    result = predict(summary, settings=ClvSettings(periods=12, period_length=30),
                     purchase_model=purchases, spend_model=spend)
    done = time.perf_counter()
    distinct = len(distinct_rows(shop.frequency, shop.recency, shop.T)[1])
    return {
        "customers": n,
        "repeat_buyers": int((shop.frequency > 0).sum()),
        "distinct_rows": distinct,
        "validate_seconds": validated - started,
        "fit_seconds": fitted - validated,
        "predict_seconds": done - fitted,
        "purchases": purchases.params,
        "spend": spend.params,
        "total_clv": float(np.sum(result.table["clv"].to_numpy())),
        "work_seconds": done - started,
    }


def clusters_step(n: int) -> dict[str, object]:
    """k-means (k = 2…8 by silhouette) on four features of n customers with planted groups."""
    import numpy as np

    from shopcrm.segments.clusters import cluster_customers

    rng = np.random.default_rng(42)
    group = rng.integers(0, 4, n)
    centres = np.array([[10, 12, 3000, 250], [300, 1, 80, 80], [90, 4, 600, 150],
                        [40, 2, 900, 450]], dtype=float)
    values = centres[group] * rng.lognormal(0, 0.15, (n, 4))
    table = {"customer_id": np.arange(n), "recency_days": values[:, 0],
             "frequency": values[:, 1], "monetary": values[:, 2], "aov": values[:, 3]}
    started = time.perf_counter()
    result = cluster_customers(table, features=("recency_days", "frequency", "monetary", "aov"),
                               log_scale=("frequency", "monetary", "aov"))
    return {"k": result.k, "names": [p.name_en for p in result.profiles],
            "work_seconds": time.perf_counter() - started}


def clusters_benchmark(n: int) -> list[str]:
    from benchmarks.common import run_step

    measured = run_step("benchmarks.clv", "clusters", str(n))
    return [
        f"### Clusters: k-means on {n:,} customers, 4 features, k = 2…8 by silhouette",
        "",
        f"{measured.seconds:.2f} s, peak RSS {measured.peak_rss_mb:,.0f} MB; found k = "
        f"{measured.result['k']}: " + "; ".join(measured.result["names"]),  # type: ignore[arg-type]
    ]


def clv_benchmark(n: int) -> list[str]:
    from benchmarks.common import run_step

    measured = run_step("benchmarks.clv", str(n))
    r = measured.result
    fitted = {**r["purchases"], **r["spend"]}  # type: ignore[dict-item]
    truth = {**TRUE_PURCHASES, **TRUE_SPEND}
    lines = [
        f"### CLV: BG/NBD + Gamma-Gamma on {n:,} simulated customers",
        "",
        f"{r['repeat_buyers']:,} repeat buyers; {r['distinct_rows']:,} distinct "
        "(frequency, recency, T) rows after collapsing identical customers.",
        "",
        "| step | time (s) |",
        "|---|---:|",
        f"| validate the summary | {r['validate_seconds']:.2f} |",
        f"| fit BG/NBD + Gamma-Gamma | {r['fit_seconds']:.2f} |",
        f"| predict (P(alive), purchases, spend, 12-period CLV) | {r['predict_seconds']:.2f} |",
        f"| **total** | **{measured.seconds:.2f}** |",
        "",
        f"Peak RSS of the process (simulation included): {measured.peak_rss_mb:,.0f} MB.",
        "",
        "| parameter | true | fitted |",
        "|---|---:|---:|",
        *[f"| {name} | {truth[name]:g} | {fitted[name]:.4f} |" for name in truth],
    ]
    return lines


if __name__ == "__main__":
    from benchmarks.common import machine

    count = int(os.environ.get("SHOPCRM_BENCH_CUSTOMERS", "1000000"))
    text = "\n".join([f"Machine: {machine()}", "", *clv_benchmark(count), "",
                      *clusters_benchmark(count)])
    print(text)
    sys.exit(0)
