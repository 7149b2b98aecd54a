"""Streamed completions per second of the mock with 1 and 2 workers at ITL 0, and the mock's
CPU per request per worker.

Starts the mock (``constant_settings(0, 0, 32)``) with each worker count in turn and drives it
with ``wrk`` (one thread, a Lua script for the POST body; the cheapest client here, so the
mock gets most of the cores) for ``--duration`` seconds after a 1 s warm-up, reading each
worker's CPU time from /proc and wrk's from its rusage. Prints one row per worker count, then
the ratio of rates.
Needs ``wrk`` on the PATH (``apt-get install wrk``). Nothing is pinned: on a 2-core machine
the client shares the cores with the workers, as it would in CI.

    .venv/bin/python bench/mock_workers.py [--duration 5] [--connections 64] [--workers 1 2]
        [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mock_throughput import cpu_seconds, zero_latency
from mock_models.embedded import EmbeddedMock

_BODY = {
    "model": "mock",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "tell me a story about a benchmark"}],
}
_LUA = f"""wrk.method = "POST"
wrk.body = '{json.dumps(_BODY)}'
wrk.headers["Content-Type"] = "application/json"
"""


def _worker_pids(mock: EmbeddedMock, workers: int) -> list[int]:
    if workers == 1:
        return [mock.pid]
    with urllib.request.urlopen(mock.base_url + "/ready", timeout=5) as response:
        return [int(w["pid"]) for w in json.loads(response.read())["workers"]]


def _wrk(url: str, script: Path, connections: int, duration_s: float) -> tuple[float, int, float]:
    """Requests per second, non-2xx answers and wrk's CPU seconds of one wrk run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + 30,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return rate, int(bad.group(1)) if bad else 0, cpu_s


def _measure(workers: int, connections: int, duration_s: float, script: Path) -> dict[str, float]:
    with EmbeddedMock(zero_latency("constant"), workers=workers) as mock:
        url = mock.base_url + "/v1/chat/completions"
        _wrk(url, script, connections, 1.0)  # warm-up: connections, caches
        pids = _worker_pids(mock, workers)
        before = [cpu_seconds(pid) for pid in pids]
        rate, bad, client_cpu_s = _wrk(url, script, connections, duration_s)
        cpu_s = [cpu_seconds(pid) - start for pid, start in zip(pids, before, strict=True)]
    requests = rate * duration_s
    return {
        "workers": workers,
        "rate_rps": rate,
        "failed": bad,
        "cpu_ms_per_request": sum(cpu_s) / max(requests, 1) * 1e3,
        "worker_busy": max(cpu_s) / duration_s,
        "worker_spread": min(cpu_s) / max(max(cpu_s), 1e-9),
        "client_busy": client_cpu_s / duration_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="rounds, alternating the counts")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not on the PATH: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(_LUA)
        rows = []
        for _ in range(args.repeat):  # alternating, so both counts see the same conditions
            for workers in args.workers:
                row = _measure(workers, args.connections, args.duration, script)
                row["load"] = os.getloadavg()[0]
                rows.append(row)
                print(
                    f"workers={row['workers']:.0f}  streamed completions/s="
                    f"{row['rate_rps']:.0f}  failed={row['failed']:.0f}  mock CPU per request="
                    f"{row['cpu_ms_per_request']:.3f} ms  busiest worker="
                    f"{row['worker_busy']:.0%} of a core  least/most busy="
                    f"{row['worker_spread']:.2f}  wrk={row['client_busy']:.0%} of a core  "
                    f"load average {row['load']:.2f}",
                    flush=True,
                )
    medians = {
        n: {
            key: statistics.median(r[key] for r in rows if r["workers"] == n)
            for key in ("rate_rps", "cpu_ms_per_request")
        }
        for n in args.workers
    }
    base_n = args.workers[0]
    for n in args.workers[1:]:
        base, row = medians[base_n], medians[n]
        print(
            f"{n} workers / {base_n} (medians of {args.repeat}): "
            f"{row['rate_rps'] / base['rate_rps']:.2f}x the rate, CPU per request "
            f"{row['cpu_ms_per_request'] / base['cpu_ms_per_request'] - 1:+.0%}"
        )
    return 0 if all(row["failed"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
