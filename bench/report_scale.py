"""``tokenstorm report`` time and peak memory on synthetic runs of N attempts, today's code
beside this checkout's, in one run.

For each size a run directory is synthesised once (``bench/synth_run.py``: 48-token streams,
plan, ledger, Parquet chunks; records.jsonl too when a baseline will read it) and
``tokenstorm report`` runs on it in a child process; its wall time and peak RSS (from
``wait4``) are printed, with its CPU seconds (user + system, which other load on the
machine inflates less than wall time). With ``--baseline-root DIR`` (a tree of the older code, e.g.
``git archive main | tar -x -C DIR``) the same run is also reported by that code, with this
interpreter and its libraries, for the sizes up to ``--baseline-max``.

    .venv/bin/python bench/report_scale.py --sizes 1000000,10000000 \
        [--baseline-root /tmp/base] [--baseline-max 1000000] [--dir /tmp/report-scale]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synth_run import synthesise

from harness.run_dir import RunPaths
from harness.store.query import count_attempts


def _report(run: Path, source_root: Path | None, work: Path) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS in MB and exit code of ``tokenstorm report run``."""
    env = dict(os.environ)
    if source_root is not None:
        env["PYTHONPATH"] = str(source_root)
    command = [sys.executable, "-m", "harness.cli.main", "report", str(run)]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed_s = time.perf_counter() - started
    if child.stderr is not None:
        error = child.stderr.read().decode().strip()
        if error:
            print(f"    stderr: {error.splitlines()[-1][:200]}")
    cpu_s = usage.ru_utime + usage.ru_stime
    return elapsed_s, cpu_s, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--baseline-root", type=Path, default=None)
    parser.add_argument("--baseline-max", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tokenstorm-report-scale"))
    parser.add_argument("--keep", action="store_true", help="keep the synthesised runs")
    parser.add_argument("--reuse", action="store_true", help="report on runs already in --dir")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'attempts':>11}  {'code':<9} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}  exit")
    for size in (int(s) for s in args.sizes.split(",")):
        baseline = args.baseline_root is not None and size <= args.baseline_max
        run = args.dir / f"run-{size}"
        if args.reuse and run.is_dir():
            attempts = count_attempts(RunPaths(run))
        else:
            shutil.rmtree(run, ignore_errors=True)
            started = time.perf_counter()
            attempts = synthesise(run, size, jsonl=baseline)
            print(f"  synthesised {attempts:,} attempts in {time.perf_counter() - started:.0f} s")
        rows = [("this", None)] + ([("baseline", args.baseline_root)] if baseline else [])
        for name, root in rows:
            elapsed_s, cpu_s, peak_mb, code = _report(run, root, args.dir)
            figures = f"{elapsed_s:>8.1f} {cpu_s:>8.1f} {peak_mb:>12,.0f}"
            print(f"{attempts:>11,}  {name:<9} {figures}  {code}")
        if not (args.keep or args.reuse):
            shutil.rmtree(run)


if __name__ == "__main__":
    main()
