"""Channel throughput: messages per second and peak RSS, to the file sink and to the
loopback SMS gateway.

``python -m benchmarks.channels`` runs every step in its own process (times cover the
work only, RSS is the whole process's) and prints a Markdown table. The gateway is the
test suite's fake provider (``tests/channels/fakes``) running in a separate process, so
client and server each get a core; it authenticates every request (HMAC), checks every
number and de-duplicates by ``out_id`` like the real thing, but keeps no message list.

Environment: ``SHOPCRM_BENCH_MESSAGES`` (default 1,000,000) for the sink and the
batched gateway, ``SHOPCRM_BENCH_GATEWAY_SINGLE`` (default 20,000) for one request per
message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.common import OUT, ROOT, machine, run_step

SIGNATURE = "好物小店"
BODY = "{name}，双11会员专享券已到账，满300减50，有效期至11月11日"


def _recipients(n: int) -> Iterator[tuple[int, str, str]]:
    """Streamed, as dispatch reads an audience in chunks (the list would dominate RSS)."""
    return ((i, f"1{3 + i % 7}{i:09d}"[:11], f"会员{i % 1000}") for i in range(n))


def sink_raw(args: list[str]) -> dict[str, object]:
    """The file sink alone: one prepared message per recipient, JSON line, buffered."""
    from shopcrm.channels.base import Message
    from shopcrm.channels.filesink import FileSinkChannel

    n, path = int(args[0]), Path(args[1])
    path.unlink(missing_ok=True)
    people = _recipients(n)
    text = f"【{SIGNATURE}】双11会员专享券已到账，回T退订"
    started = time.perf_counter()
    accepted = 0
    with FileSinkChannel(path) as sink:
        for customer, phone, _ in people:
            accepted += sink.send(Message(key=f"c1:s1:{customer}", to=phone, body=text)).ok
        sink.flush(sync=True)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    path.unlink()
    return {"messages": accepted, "bytes": size, "work_seconds": seconds}


def sink_campaign(args: list[str]) -> dict[str, object]:
    """Per recipient the campaign rules too: holdout and variant by hashing, the
    personalised text with signature and opt-out, then the sink."""
    from shopcrm.campaigns.rules import ArmAssigner, assemble_sms
    from shopcrm.channels.base import Message
    from shopcrm.channels.filesink import FileSinkChannel

    n, path = int(args[0]), Path(args[1])
    path.unlink(missing_ok=True)
    people = _recipients(n)
    assigner = ArmAssigner(7, (("A", 1.0), ("B", 1.0)))
    started = time.perf_counter()
    accepted = held = 0
    with FileSinkChannel(path) as sink:
        for customer, phone, name in people:
            arm = assigner.arm(customer)
            if arm == "holdout":
                held += 1
                continue
            text = assemble_sms(BODY.format(name=name), signature=SIGNATURE)
            accepted += sink.send(Message(key=f"c7:s1:{customer}", to=phone, body=text,
                                          metadata={"variant": arm})).ok
        sink.flush(sync=True)
    seconds = time.perf_counter() - started
    path.unlink()
    return {"messages": accepted, "held_out": held, "work_seconds": seconds}


def gateway(args: list[str]) -> dict[str, object]:
    """Through :class:`HttpSmsChannel` to the gateway at ``args[1]``, batches of
    ``args[2]`` (1: one HTTP request per message)."""
    from shopcrm.channels.base import Message
    from shopcrm.channels.sms import HttpSmsChannel, SmsGatewaySettings

    n, url, batch = int(args[0]), args[1], int(args[2])
    people = _recipients(n)
    text = f"【{SIGNATURE}】双11会员专享券已到账，回T退订"
    settings = SmsGatewaySettings(base_url=url, signature=SIGNATURE, access_key_id="bench",
                                  access_key_secret="bench-secret")
    accepted = 0
    started = time.perf_counter()
    with HttpSmsChannel(settings) as channel:
        messages = (Message(key=f"c{batch}:s1:{c}", to=p, body=text) for c, p, _ in people)
        if batch == 1:
            for message in messages:
                accepted += channel.send(message).ok
        else:
            chunk: list[Message] = []
            for message in messages:
                chunk.append(message)
                if len(chunk) == batch:
                    accepted += sum(r.ok for r in channel.send_batch(chunk))
                    chunk = []
            if chunk:
                accepted += sum(r.ok for r in channel.send_batch(chunk))
    return {"messages": accepted, "work_seconds": time.perf_counter() - started}


def serve_gateway(port_file: str) -> None:
    """Run the fake provider until killed; write its URL to ``port_file``."""
    sys.path.insert(0, str(ROOT / "tests" / "channels"))
    from fakes.sms_gateway import FakeSmsGateway

    gateway = FakeSmsGateway(access_key_id="bench", access_key_secret="bench-secret",
                             record=False).start()
    Path(port_file).write_text(gateway.url, encoding="utf-8")
    while True:
        time.sleep(3600)


def main(argv: list[str]) -> dict[str, object]:
    step = {"sink_raw": sink_raw, "sink_campaign": sink_campaign, "gateway": gateway}[argv[0]]
    return step(argv[1:])


def benchmark(messages: int, single: int) -> list[str]:
    """The Markdown lines of one run (``benchmarks/run.py`` can append them)."""
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [f"### Channels: {messages:,} messages",
             "",
             "| run | messages | time (s) | messages/s | peak RSS (MB) |",
             "|---|---:|---:|---:|---:|"]

    def row(label: str, measured_messages: int, seconds: float, rss: float) -> None:
        lines.append(f"| {label} | {measured_messages:,} | {seconds:.2f} | "
                     f"{measured_messages / seconds:,.0f} | {rss:,.0f} |")

    sink_path = str(OUT / "channels-sink.jsonl")
    for step, label in (("sink_raw", "file sink (JSON lines, fsync at end)"),
                        ("sink_campaign", "holdout + variant + SMS text + file sink")):
        m = run_step("benchmarks.channels", step, str(messages), sink_path)
        row(label, int(str(m.result["messages"])), m.seconds, m.peak_rss_mb)
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "url"
        server = subprocess.Popen([sys.executable, "-c",
                                   "import benchmarks.channels as b, sys; "
                                   "b.serve_gateway(sys.argv[1])", str(port_file)],
                                  cwd=ROOT, env={**os.environ})
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            url = port_file.read_text(encoding="utf-8")
            for count, batch, label in (
                    (single, "1", "SMS gateway on loopback, one request per message"),
                    (messages, "100", "SMS gateway on loopback, batches of 100")):
                m = run_step("benchmarks.channels", "gateway", str(count), url, batch)
                row(label, int(str(m.result["messages"])), m.seconds, m.peak_rss_mb)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return lines


if __name__ == "__main__":
    from datetime import UTC, datetime

    count = int(os.environ.get("SHOPCRM_BENCH_MESSAGES", "1000000"))
    one_by_one = int(os.environ.get("SHOPCRM_BENCH_GATEWAY_SINGLE", "20000"))
    header = [f"## Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
              f"Machine: {machine()}", ""]
    print("\n".join(header + benchmark(count, one_by_one)))
