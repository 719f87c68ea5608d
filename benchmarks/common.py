"""Helpers for benchmarks: run a step in a fresh subprocess and measure time and peak RSS."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    result: dict[str, object]


def run_step(module: str, *args: str, env: dict[str, str] | None = None) -> Measured:
    """Run ``python -m <module> args`` and read the JSON it prints on its last line.

    The child measures its own wall time around the work; peak RSS is the child's
    ``ru_maxrss`` (so imports and start-up count too, as a user would see).
    """
    code = (
        "import json, resource, runpy, sys, time;"
        f"sys.argv = [{module!r}, *{list(args)!r}];"
        "t = time.perf_counter();"
        "import importlib; mod = importlib.import_module(" + repr(module) + ");"
        "result = mod.main(sys.argv[1:]);"
        "elapsed = time.perf_counter() - t;"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "print(json.dumps({'seconds': elapsed, 'rss': rss, 'result': result}, default=str))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    result = dict(data["result"])
    seconds = float(result.pop("work_seconds", data["seconds"]))
    return Measured(seconds, float(data["rss"]), result)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}"
