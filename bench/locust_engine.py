"""The Locust engine against the asyncio engine, measured side by side in one run.

Three parts, each a full ``tokenstorm run`` (``harness.runner.execute``) against a mock started
here (constant latency: TTFT 20 ms, 32 tokens 10 ms apart, any model):

* ``cpu``: CPU per streamed request (256 prompt / 32 output tokens) of the asyncio engine and
  of one Locust worker, at the same constant rate; the mock on core 0, the run (and its
  worker) on core 1. Target: the worker within 1.3x of the asyncio engine.
* ``rate``: the highest constant rate held (schedule lag p99 < 5 ms, every request ok) with 1
  and with 2 local workers, unpinned. On a 2-core machine the mock shares the cores with the
  workers; each worker's CPU per request and share of its core is printed so one can see
  whether the workers or the mock ran out.
* ``sessions``: N concurrent agent sessions (an 8 s tool latency keeps them idle) on 2
  workers; the workers' resident memory (RSS) per 1,000 open sessions, from the rise of their
  peak RSS over a run of N/50 sessions.

    .venv/bin/python bench/locust_engine.py [--parts cpu,rate,sessions] [--rate 100]
        [--rates 200,400,800,1200] [--duration 6] [--sessions 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from harness.locust.run import LocustOptions
from harness.runner import execute
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings
from workloads.scenario import parse_scenario

LAG_LIMIT_MS = 5.0


def _scenario(url: str, rate: float, duration_s: float, workload: dict[str, Any]) -> Any:
    return parse_scenario(
        {
            "name": "bench",
            "seed": 1,
            "duration": f"{duration_s}s",
            "drain": "5s",
            "target": {"url": url, "model": "m", "timeout": "30s", "stream": True},
            "arrival": {"process": "constant", "rate": f"{rate}/s"},
            "workload": [workload],
        }
    )


STREAM = {"kind": "stream", "prompt_tokens": 256, "max_tokens": 32}


def _run(
    scenario: Any, folder: Path, run_id: str, workers: int | None, watch: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    locust = None if workers is None else LocustOptions(workers=workers, join_timeout_s=60.0)
    result = execute(
        scenario, folder, run_id, preflight=False, progress=False, reports=False, locust=locust
    )
    manifest = json.loads((result.paths.root / "manifest.json").read_text())
    return result.summary, manifest


def _cpu_ms(summary: dict[str, Any], cpu_s: float) -> float:
    return 1000.0 * cpu_s / max(1, summary["requests_sent"])


def part_cpu(url: str, mock_pid: int, rate: float, duration_s: float, folder: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(mock_pid, {cores[0]})
    os.sched_setaffinity(0, {cores[-1]})
    scenario = _scenario(url, rate, duration_s, STREAM)
    try:
        base, base_manifest = _run(scenario, folder, "cpu-asyncio", None)
        loc, loc_manifest = _run(scenario, folder, "cpu-locust", 1)
    finally:
        os.sched_setaffinity(0, set(cores))
        os.sched_setaffinity(mock_pid, set(cores))
    asyncio_ms = _cpu_ms(base, base_manifest["client_cpu_s"])
    worker_ms = _cpu_ms(loc, loc_manifest["locust"]["workers"][0]["cpu_s"])
    master_ms = _cpu_ms(loc, loc_manifest["locust"]["master_cpu_s"])
    print(
        f"cpu: {rate:g} streamed req/s for {duration_s:g} s, mock on core {cores[0]}, "
        f"run on core {cores[-1]}"
    )
    print(
        f"  asyncio engine      {asyncio_ms:6.3f} ms CPU per request "
        f"(sent {base['requests_sent']}, lag p99 {base['schedule_lag_ms']['p99']:.2f} ms)"
    )
    print(
        f"  1 Locust worker     {worker_ms:6.3f} ms CPU per request "
        f"(sent {loc['requests_sent']}, lag p99 {loc['schedule_lag_ms']['p99']:.2f} ms); "
        f"master {master_ms:.3f} ms per request"
    )
    print(f"  worker / asyncio    {worker_ms / asyncio_ms:6.2f}x (target <= 1.3x)")


def part_rate(url: str, rates: list[float], duration_s: float, folder: Path) -> None:
    print(
        f"rate: constant rate, {duration_s:g} s per step, unpinned "
        f"({os.cpu_count()} cores shared by the mock, the master and the workers)"
    )
    print(
        f"{'workers':>8} {'target/s':>9} {'sent/s':>8} {'lag p99 ms':>11} {'ok':>7} "
        f"{'CPU ms/req per worker':>24} {'core share per worker':>24}"
    )
    held: dict[int, float] = {}
    for workers in (1, 2):
        held[workers] = 0.0
        for rate in rates:
            summary, manifest = _run(
                _scenario(url, rate, duration_s, STREAM),
                folder,
                f"rate-{workers}-{rate:g}",
                workers,
            )
            sent = summary["requests_sent"]
            ok = summary["outcomes"].get("ok", 0) / max(1, summary["requests_planned"])
            lag = summary["schedule_lag_ms"]["p99"]
            per = manifest["locust"]["workers"]
            wall = manifest["wall_s"]
            cpu = " ".join(f"{1000 * w['cpu_s'] / max(1, w['records']):.3f}" for w in per)
            share = " ".join(f"{w['cpu_s'] / wall:.0%}" for w in per)
            ok_all = lag is not None and lag < LAG_LIMIT_MS and ok > 0.999
            if ok_all:
                held[workers] = rate
            print(
                f"{workers:8d} {rate:9.0f} {sent / duration_s:8.1f} {lag or float('nan'):11.2f} "
                f"{ok:7.1%} {cpu:>24} {share:>24}{'' if ok_all else '   <- not held'}"
            )
    ratio = held[2] / held[1] if held[1] else float("nan")
    print(
        f"  highest rate held: 1 worker {held[1]:.0f}/s, 2 workers {held[2]:.0f}/s "
        f"({ratio:.2f}x; target >= 1.7x where the target is not the bottleneck)"
    )


def _peak_rss(url: str, sessions: int, folder: Path) -> tuple[float, int]:
    """The 2 workers' peak RSS summed, while ``sessions`` agent sessions are open."""
    rate = 1000.0
    agent = {
        "kind": "agent_loop",
        "system_prompt_tokens": 20,
        "task_tokens": 10,
        "turns": 3,
        "tool_output_tokens": 10,
        "tool_latency": "8s",
        "max_tokens": 4,
    }
    # 3 turns 8 s apart: a session lives about 16 s, so all started in the first 10 s are
    # open at once; [arrival] requests ends the plan, and later turns go on in the drain.
    scenario = parse_scenario(
        {
            "name": "bench-sessions",
            "seed": 1,
            "duration": "600s",
            "drain": "30s",
            "target": {"url": url, "model": "m", "timeout": "30s", "stream": True},
            "arrival": {"process": "constant", "rate": f"{rate}/s", "requests": 3 * sessions},
            "workload": [agent],
        }
    )
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            workers = [p for p in psutil.Process().children() if "worker" in _cmd(p).split()]
            if len(workers) == 2:
                peak[0] = max(peak[0], sum(_rss(p) for p in workers))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    summary, _manifest = _run(scenario, folder, f"sessions-{sessions}", 2)
    stop.set()
    watcher.join()
    return peak[0], summary["requests_sent"]


def part_sessions(url: str, sessions: int, folder: Path) -> None:
    few = max(100, sessions // 50)
    base, _ = _peak_rss(url, few, folder)
    peak, sent = _peak_rss(url, sessions, folder)
    per_k = (peak - base) / ((sessions - few) / 1000.0)
    print(
        f"sessions: {sessions} agent sessions (3 turns, 8 s tool latency) started at 1000/s "
        f"on 2 workers: all open at once after {sessions / 1000:g} s"
    )
    print(
        f"  requests sent {sent}; workers' peak RSS {peak / 2**20:.0f} MiB with {sessions}, "
        f"{base / 2**20:.0f} MiB with {few}: {per_k / 2**20:.2f} MiB per 1,000 open sessions"
    )


def _cmd(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _rss(process: psutil.Process) -> float:
    try:
        return float(process.memory_info().rss)
    except psutil.Error:
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="cpu,rate,sessions")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rates", default="200,400,800,1200")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    parts = args.parts.split(",")
    with (
        EmbeddedMock(constant_settings(20.0, 10.0, 32)) as mock,
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        if "cpu" in parts:
            part_cpu(mock.api_url, mock.pid, args.rate, args.duration, folder)
        if "rate" in parts:
            rates = [float(r) for r in args.rates.split(",")]
            part_rate(mock.api_url, rates, args.duration, folder)
        if "sessions" in parts:
            part_sessions(mock.api_url, args.sessions, folder)


if __name__ == "__main__":
    main()
