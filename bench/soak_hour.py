"""A soak of the demo's mix: ``tokenstorm run`` for ``--duration`` (an hour by default) against
its embedded mock, watching the mock's ``/metrics``, while this script reads the run's
resident memory from ``/proc`` every ``--every`` seconds.

What it prints, each from the run itself:

- the engine's resident memory: at the end of the warm-up (the first ``--warm-up`` share of the
  run), its highest reading after it, the growth between the two against the 100 MB target,
  and the least-squares slope of the readings after the warm-up in MB per hour;
- the soak section of ``summary.json``: the verdict (stable or degrading, and since when), the
  p99 slopes with their 95 % intervals, the error-rate trend, the periodic-burst test;
- the leak verdict on the mock's ``process_resident_memory_bytes`` (scraped by ``--watch
  mock``), in MB per hour with its interval;
- whether ``report.html`` carries the soak section.

The mock runs in its own process, so the engine's figure is the harness alone.

    .venv/bin/python bench/soak_hour.py [--duration 1h] [--rate 8/s] [--every 10]
        [--watch-every 30] [--warm-up 0.1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.contract.quantities import parse_duration_s

TARGET_GROWTH_MB = 100.0
RUN_ID = "soak"


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (Linux), None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def sample_run(command: list[str], every_s: float, limit_s: float) -> list[tuple[float, float]]:
    """Run ``command``, reading its RSS every ``every_s`` seconds; (seconds, MB) readings.
    The run is killed if it outlasts ``limit_s``."""
    readings: list[tuple[float, float]] = []
    start = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as run:
        while run.poll() is None:
            elapsed_s = time.monotonic() - start
            if elapsed_s > limit_s:
                run.kill()
                raise SystemExit(f"the run outlasted {limit_s:.0f} s and was killed")
            value = rss_mb(run.pid)
            if value is not None:
                readings.append((elapsed_s, value))
            try:
                run.wait(timeout=every_s)
            except subprocess.TimeoutExpired:
                pass
        errors = run.stderr.read().decode(errors="replace") if run.stderr else ""
    if run.returncode not in (0, 1):  # 1: a gate or a validity note, still a finished run
        raise SystemExit(f"tokenstorm run exited {run.returncode}:\n{errors[-2000:]}")
    return readings


def memory_lines(readings: list[tuple[float, float]], warm_up_s: float) -> list[str]:
    after = [(t, mb) for t, mb in readings if t >= warm_up_s]
    if len(after) < 3:
        return [f"engine RSS: only {len(after)} readings after the warm-up, no figure"]
    base_mb = after[0][1]
    peak_mb = max(mb for _, mb in after)
    hours = np.array([t / 3600.0 for t, _ in after])
    slope_mb_h = float(np.polyfit(hours, np.array([mb for _, mb in after]), 1)[0])
    growth_mb = peak_mb - base_mb
    held = "within" if growth_mb < TARGET_GROWTH_MB else "OVER"
    return [
        f"engine RSS while sending: {readings[0][1]:.0f} MB at start, {base_mb:.0f} MB after "
        f"the warm-up ({warm_up_s:.0f} s), peak {peak_mb:.0f} MB, end {readings[-1][1]:.0f} MB "
        f"({len(readings)} readings)",
        f"engine RSS growth after the warm-up: {growth_mb:+.1f} MB ({held} the "
        f"{TARGET_GROWTH_MB:.0f} MB target); slope {slope_mb_h:+.2f} MB/h",
    ]


def _interval(trend: dict[str, Any], scale: float = 1.0) -> str:
    low, high = trend.get("low"), trend.get("high")
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return "interval unknown"
    return f"95 % {low * scale:+.3g} to {high * scale:+.3g}"


def _number(value: object) -> str:
    return f"{value:+.3g}" if isinstance(value, int | float) else "unknown"


def soak_lines(summary: dict[str, Any]) -> list[str]:
    soak = summary.get("soak") or {}
    if "trends" not in soak:
        return [f"soak: {soak.get('verdict')} ({soak.get('reason', 'no soak section')})"]
    since = soak.get("since_s")
    lines = [
        f"soak verdict: {soak['verdict']}"
        + (f" since {since / 60:.1f} min" if isinstance(since, int | float) else "")
        + f" ({len(soak.get('windows') or ())} windows of {soak.get('window_s')} s)"
    ]
    for key, trend in (soak.get("trends") or {}).items():
        lines.append(
            f"  {key}: slope {_number(trend.get('per_hour'))} per hour "
            f"({_interval(trend)}), {trend.get('direction')}"
        )
    bursts = soak.get("bursts") or {}
    lines.append(f"  periodic bursts: {bool(bursts.get('periodic'))} (p = {bursts.get('p_value')})")
    return lines


def leak_lines(summary: dict[str, Any]) -> list[str]:
    urls = ((summary.get("watch") or {}).get("urls")) or {}
    lines = []
    for url, entry in urls.items():
        verdict = (entry.get("leak") or {}).get("process_resident_memory_bytes")
        if not verdict:
            lines.append(f"leak verdict for {url}: none ({entry.get('errors')} errors)")
            continue
        interval = verdict.get("ci95_bytes_per_hour") or [None, None]
        lows = [f"{v / 1e6:+.2f}" if isinstance(v, int | float) else "?" for v in interval]
        rate = verdict.get("bytes_per_hour")
        shown = f"{rate / 1e6:+.2f}" if isinstance(rate, int | float) else "unknown"
        lines.append(
            f"mock RSS leak verdict ({url}): {verdict.get('verdict')}, {shown} MB/h "
            f"(95 % {lows[0]} to {lows[-1]}), {verdict.get('points')} scrapes"
        )
        late = verdict.get("second_half")
        if isinstance(late, dict) and isinstance(late.get("bytes_per_hour"), int | float):
            low, high = (v / 1e6 for v in late["ci95_bytes_per_hour"])
            lines.append(
                f"  over the second half: {late['verdict']}, {late['bytes_per_hour'] / 1e6:+.2f}"
                f" MB/h (95 % {low:+.2f} to {high:+.2f}), settled: {verdict.get('settled')}"
            )
    return lines or ["leak verdict: no watched endpoint in the summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="1h")
    parser.add_argument("--rate", default=None, help="session rate (default: the demo's)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS reads")
    parser.add_argument("--watch-every", type=float, default=30.0)
    parser.add_argument("--warm-up", type=float, default=0.1, help="share of the run")
    parser.add_argument("--out", type=Path, default=None, help="keep the run directory here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="soak-"))
    tokenstorm = Path(sys.executable).with_name("tokenstorm")
    command = [str(tokenstorm), "run", "--duration", args.duration, "--no-progress"]
    command += ["--watch", "mock", "--watch-every", str(args.watch_every)]
    command += ["--out", str(out), "--run-id", RUN_ID]
    if args.rate:
        command += ["--rate", args.rate]
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    readings = sample_run(command, args.every, limit_s=1e6)
    wall_s = time.monotonic() - started
    run_dir = out / RUN_ID
    summary = json.loads((run_dir / "summary.json").read_text())
    print(
        f"run: {wall_s:.0f} s wall, {summary.get('requests_planned')} planned, "
        f"{summary.get('requests_ok')} ok, valid {summary.get('valid')}"
    )
    # The engine's figure is taken while it sends: the summary and the report after the
    # drain load their own libraries (charts), which is not the engine growing.
    sending_s = parse_duration_s(args.duration)
    sending = [(t, mb) for t, mb in readings if t <= sending_s]
    lines = memory_lines(sending, args.warm_up * sending_s)
    for line in lines + soak_lines(summary) + leak_lines(summary):
        print(line)
    html = (run_dir / "report.html").read_text()
    print("report.html soak section:", "yes" if 'class="soak' in html else "no")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
