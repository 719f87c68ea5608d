"""Campaign dispatch at scale: a launched SMS campaign to N recipients (default
1,000,000) through the whole dispatcher — claim, consent, suppression and frequency-cap
checks, quiet hours, arm, personalised template, SMS assembly, send, record — to the
file sink and to the loopback SMS gateway; baseline in the same run: writing the same
JSON lines with a plain loop.

Steps run in their own processes (``benchmarks.common.run_step``: time of the work,
peak RSS of the process). The store is SQLite in ``benchmarks/out/campaigns-<n>``;
customers carry a phone and a granted SMS marketing consent; the clock is fixed at
10:00 in Shanghai (outside quiet hours). Environment: ``SHOPCRM_BENCH_CAMPAIGN_RECIPIENTS``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, ROOT, machine, run_step

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OFFER = "双11会员专享券已到账，满300减50，有效期至11月11日"
BODY = "{{ customer.name }}，" + OFFER
SIGNATURE = "好物小店"


def _context(home: Path) -> Any:
    from shopcrm.clock import FakeClock
    from shopcrm.context import build_context
    from shopcrm.settings import Settings

    return build_context(Settings(home=home), clock=FakeClock(NOW))


def _config(home: Path, **extra: Any) -> Any:
    from shopcrm.campaigns.config import load_settings
    from shopcrm.settings import Settings

    # Three campaigns go to the same customers within a week: the cap is raised to 5 so
    # it is checked (every customer's history is read) but holds nobody back.
    return load_settings(Settings(home=home), {
        "secret": "bench", "shop_name": SIGNATURE, "batch_size": 2000,
        "caps": [{"channel": "sms", "limit": 5, "days": 7}], **extra})


def setup(args: list[str]) -> dict[str, object]:
    """Customers with phones and consents, three launched SMS campaigns (one per run)."""
    from sqlalchemy import insert

    from shopcrm.accounts import audit
    from shopcrm.campaigns import service
    from shopcrm.campaigns.specs import CampaignSpec
    from shopcrm.store.models import Consent, Customer

    home, n = Path(args[0]), int(args[1])
    marker = home / "bench-setup.json"
    if os.environ.get("SHOPCRM_BENCH_REUSE") and marker.exists():
        return _reset(home, json.loads(marker.read_text()))
    if home.exists():
        shutil.rmtree(home)
    context = _context(home)
    started = time.perf_counter()
    chunk = 50_000
    with context.sessions.begin() as session:
        for start in range(1, n + 1, chunk):
            ids = range(start, min(n, start + chunk - 1) + 1)
            session.execute(insert(Customer), [
                {"id": i, "status": "active", "name": f"会员{i % 1000}",
                 "phone": f"+86139{i:08d}", "created_at": NOW, "updated_at": NOW} for i in ids])
            session.execute(insert(Consent), [
                {"customer_id": i, "channel": "sms", "purpose": "marketing",
                 "status": "granted", "source": "api", "at": NOW - timedelta(days=30),
                 "actor": "bench"} for i in ids])
    people_seconds = time.perf_counter() - started
    launches = []
    for target in ("sink", "sink-2", "gateway"):
        spec = CampaignSpec.model_validate({
            "name": f"bench {target}", "channel": "sms",
            "audience": {"kind": "list", "customer_ids": list(range(1, n + 1))},
            "content": {"variants": [
                {"name": "A", "body": BODY},
                {"name": "B", "body": "{{ customer.name }}，双11大促开始啦"}]}})
        with context.sessions.begin() as session:
            campaign_id = service.create_campaign(session, spec=spec, actor=audit.SYSTEM,
                                                  now=NOW).id
        started = time.perf_counter()
        report = service.launch(context, campaign_id=campaign_id, actor=audit.SYSTEM)
        launches.append({"campaign": campaign_id, "seconds": time.perf_counter() - started,
                         "treated": report.audience - report.holdout})
    context.close()
    result = {"people_seconds": people_seconds, "launches": launches,
              "work_seconds": people_seconds}
    marker.write_text(json.dumps(result), encoding="utf-8")
    return result


def _reset(home: Path, result: dict[str, Any]) -> dict[str, object]:
    """``SHOPCRM_BENCH_REUSE=1``: the launched campaigns as they were right after the
    launch (every treated delivery pending again), instead of building them anew."""
    from sqlalchemy import update

    from shopcrm.campaigns.models import Campaign, Delivery

    context = _context(home)
    with context.sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.arm != "holdout").values(
            status="pending", claim=None, claimed_at=None, sent_at=None,
            provider_message_id=None, attempts=0, reason=None, segments=None,
            due_at=Delivery.planned_at))
        session.execute(update(Campaign).values(status="scheduled", finished_at=None,
                                                final_counts=None))
    context.close()
    return result


def _cpu(who: int = 0) -> float:
    """User + system CPU seconds of this process (``who`` 0) or its finished children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN if who else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def baseline(args: list[str]) -> dict[str, object]:
    """The same JSON lines written by a plain loop (no store, no rules, no template)."""
    n, path = int(args[0]), Path(args[1])
    path.unlink(missing_ok=True)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    cpu = _cpu()
    started = time.perf_counter()
    with path.open("w", encoding="utf-8", buffering=1 << 20) as handle:
        for i in range(1, n + 1):
            handle.write(encode({
                "key": f"c1:s0:{i}", "to": f"+86139{i:08d}",
                "body": f"【{SIGNATURE}】会员{i % 1000}，{OFFER}，回T退订",
                "language": "zh", "metadata": {"campaign": "1", "variant": "A",
                                                "customer": str(i)}}))
            handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - started
    cpu = _cpu() - cpu
    path.unlink()
    return {"messages": n, "work_seconds": seconds, "cpu_seconds": cpu}


def dispatch_parallel(args: list[str]) -> dict[str, object]:
    """``args[2]`` dispatcher processes on one campaign, each with its own sink file
    (claims keep them apart); time from start to the last one done, peak RSS of the
    largest child."""
    import multiprocessing
    import resource

    home, campaign_id, processes = args[0], args[1], int(args[2])
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(processes + 1)
    answers = spawn.Queue()
    workers = [spawn.Process(target=_dispatch_child,
                             args=([home, campaign_id, f"sink:{i}"], ready, answers))
               for i in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait()  # every child has imported and connected: the clock starts now
    started = time.perf_counter()
    results = [answers.get() for _ in workers]
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join()
    cpu = sum(float(str(r["cpu_seconds"])) for r in results)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"messages": sum(int(str(r["messages"])) for r in results),
            "lines": sum(int(str(r["lines"] or 0)) for r in results),
            "per_process": [r["messages"] for r in results], "child_rss_mb": rss,
            "batches": sum(int(str(r["batches"])) for r in results), "work_seconds": seconds,
            "cpu_seconds": cpu}


def _dispatch_child(args: list[str], ready: Any, answers: Any) -> None:
    answers.put(dispatch(args, ready=ready))


def dispatch(args: list[str], ready: Any = None) -> dict[str, object]:
    """The dispatcher on one launched campaign, to the file sink or the gateway."""
    from shopcrm.campaigns.config import ChannelSet
    from shopcrm.campaigns.dispatch import Dispatcher
    from shopcrm.channels.base import ChannelAdapter, ChannelKind

    home, campaign_id, target = Path(args[0]), int(args[1]), args[2]
    context = _context(home)
    sink = home / "outbox" / f"bench-{target.replace(':', '-')}.jsonl"
    sink.unlink(missing_ok=True)
    extra: dict[str, Any] = {}
    if target == "gateway":
        extra["sms"] = {"base_url": args[3], "signature": SIGNATURE, "access_key_id": "bench",
                        "access_key_secret": "bench-secret", "batch_size": 100}
    config = _config(home, **extra)

    def make() -> ChannelAdapter:
        if target == "gateway":
            from shopcrm.channels.sms import HttpSmsChannel, SmsGatewaySettings

            return HttpSmsChannel(SmsGatewaySettings(
                base_url=args[3], signature=SIGNATURE, access_key_id="bench",
                access_key_secret="bench-secret"))
        from shopcrm.channels.filesink import FileSinkChannel

        return FileSinkChannel(sink, kind=ChannelKind.SMS)

    if ready is not None:
        from shopcrm.campaigns import dispatch as _warm  # noqa: F401  (imports done)

        ready.wait()
    cpu = _cpu()
    started = time.perf_counter()
    with ChannelSet({"sms": make}) as channels:
        report = Dispatcher(context, channels=channels, config=config).run(
            campaign_id=campaign_id)
    seconds = time.perf_counter() - started
    cpu = _cpu() - cpu
    context.close()
    lines = sink.read_bytes().count(b"\n") if sink.exists() else None
    sink.unlink(missing_ok=True)
    t = report.total
    return {"messages": t.sent, "skipped": t.skipped, "failed": t.failed, "held": t.held,
            "batches": report.batches, "lines": lines, "finished": report.finished,
            "work_seconds": seconds, "cpu_seconds": cpu}


def main(argv: list[str]) -> dict[str, object]:
    step = {"setup": setup, "baseline": baseline, "dispatch": dispatch,
            "dispatch_parallel": dispatch_parallel}[argv[0]]
    return step(argv[1:])


def benchmark(recipients: int) -> list[str]:
    """The Markdown lines of one run (``benchmarks/run.py`` appends them)."""
    OUT.mkdir(parents=True, exist_ok=True)
    home = OUT / f"campaigns-{recipients}"
    prepared = run_step("benchmarks.campaigns", "setup", str(home), str(recipients))
    launches: list[dict[str, Any]] = prepared.result["launches"]  # type: ignore[assignment]
    lines = [f"### Campaign dispatch: {recipients:,} recipients (SMS, 10% holdout, A/B)",
             "",
             f"Set-up (not timed below): {recipients:,} customers with consents in "
             f"{prepared.result['people_seconds']:.1f} s; launch (audience snapshot → "
             f"{recipients:,} delivery rows) {launches[0]['seconds']:.1f} s.",
             "",
             "messages/CPU-s: messages per second of CPU time the sending process got "
             "(user + system) — the figure that does not depend on what else runs on "
             "the machine.",
             "",
             "| run | messages | time (s) | messages/s | CPU (s) | messages/CPU-s | "
             "peak RSS (MB) | × baseline |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    base = run_step("benchmarks.campaigns", "baseline", str(launches[0]["treated"]),
                    str(OUT / "campaigns-baseline.jsonl"))
    base_rate = int(str(base.result["messages"])) / base.seconds

    def row(label: str, m: Any, rss: float | None = None) -> None:
        count = int(str(m.result["messages"]))
        rate = count / m.seconds
        cpu = float(str(m.result["cpu_seconds"]))
        lines.append(f"| {label} | {count:,} | {m.seconds:.2f} | {rate:,.0f} | {cpu:.1f} | "
                     f"{count / cpu:,.0f} | {rss if rss is not None else m.peak_rss_mb:,.0f} | "
                     f"{base_rate / rate:.2f} |")

    row("plain loop writing the same JSON lines (baseline)", base)
    sink = run_step("benchmarks.campaigns", "dispatch", str(home),
                    str(launches[0]["campaign"]), "sink")
    row("shopcrm dispatch → file sink, 1 process (SQLite store)", sink)
    pair = run_step("benchmarks.campaigns", "dispatch_parallel", str(home),
                    str(launches[1]["campaign"]), "2")
    row("shopcrm dispatch → file sink, 2 processes (one file each)", pair,
        float(str(pair.result["child_rss_mb"])))
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "url"
        server = subprocess.Popen([sys.executable, "-c",
                                   "import benchmarks.channels as b, sys; "
                                   "b.serve_gateway(sys.argv[1])", str(port_file)],
                                  cwd=ROOT, env={**os.environ})
        try:
            for _ in range(400):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            url = port_file.read_text(encoding="utf-8")
            gateway = run_step("benchmarks.campaigns", "dispatch", str(home),
                               str(launches[2]["campaign"]), "gateway", url)
            row("shopcrm dispatch → loopback SMS gateway, batches of 100", gateway)
        finally:
            server.terminate()
            server.wait(timeout=10)
    lines.append(f"|   ↳ 1 process: {sink.result['batches']} batches of 2,000, "
                 f"{sink.result['lines']:,} lines; 2 processes: "
                 f"{pair.result['per_process']} messages each; gateway run: "
                 f"{gateway.result['failed']} failed | | | | | | | |")
    return lines


if __name__ == "__main__":
    count = int(os.environ.get("SHOPCRM_BENCH_CAMPAIGN_RECIPIENTS", "1000000"))
    header = [f"## Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "", f"Machine: {machine()}",
              ""]
    print("\n".join(header + benchmark(count)))
