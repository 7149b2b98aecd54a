"""``tokenstorm gate`` and ``tokenstorm compare`` time and peak memory on synthetic runs of N
attempts, this checkout beside older code, in one run.

For each size two run directories are synthesised (``bench/synth_run.py``: N and 98 % of N
attempts, so their plans differ) and summarised by ``tokenstorm report``. Then
``tokenstorm gate RUN --budget B --baseline BASE`` (thresholds, a tag-filtered one, a
sustained one, and regressions whose noise checks bootstrap: latency, error rate, cost per
1k requests and retry amplification) and ``tokenstorm compare RUN
BASE --force`` each run in a child process; wall time, CPU seconds (user + system) and peak
RSS (from ``wait4``) are printed. With ``--baseline-root DIR`` (a tree of the older code, e.g.
``git archive main | tar -x -C DIR``) the same commands also run with that code, with this
interpreter and its libraries, for the sizes up to ``--baseline-max`` (it reads every record
into memory: about 20 KB an attempt, for each of the two runs), and what it wrote is checked
against this checkout's (the "same" column): every gate row's verdict, observed value, limit
and baseline, and the compared figures of each run (not the intervals, which each row now
draws from its own random stream).

    .venv/bin/python bench/gate_scale.py --sizes 200000,1000000 \
        [--baseline-root /tmp/base] [--baseline-max 200000] [--dir /tmp/gate-scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synth_run import synthesise

BUDGET = """
[thresholds]
"ttft_ms" = ["p(99) < 200", "p(50) < 80", { threshold = "p(90) < 100", over = "5s" }]
"e2e_ms{workload=stream}" = ["p(99) < 1500"]
"error_rate" = ["rate < 0.01"]
[regression]
"ttft_ms" = ["p(50) <= baseline * 0.9"]
"e2e_ms" = ["p(99) <= baseline * 1.0 + 5"]
"error_rate" = ["rate <= baseline + 0.001"]
"cost_per_1k_requests_usd" = ["value <= baseline * 0.9"]
"retry_amplification" = ["value <= baseline * 0.9"]
[baseline]
require_same = ["seed"]
"""


def _child(arguments: list[str], source_root: Path | None, work: Path) -> tuple[float, ...]:
    """Wall seconds, CPU seconds, peak RSS in MB and exit code of ``tokenstorm ARGUMENTS``."""
    env = dict(os.environ)
    if source_root is not None:
        env["PYTHONPATH"] = str(source_root)
    command = [sys.executable, "-m", "harness.cli.main", *arguments]
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
    code = os.waitstatus_to_exitcode(status)
    return elapsed_s, cpu_s, usage.ru_maxrss / 1024, code


def _written(verb: str, run: Path, folder: Path) -> str:
    """What the command wrote that both codes must agree on."""
    if verb == "gate":
        rows = json.loads((run / "gates.json").read_text(encoding="utf-8"))["results"]
        return json.dumps([{k: v for k, v in row.items() if k != "detail"} for row in rows])
    text = (folder / "cmp" / "comparison.md").read_text(encoding="utf-8")
    # The table of each run's figures: one cell per run after the label.
    return "\n".join(
        line for line in text.splitlines() if line.startswith("| ") and line.count("|") == 4
    )


def _runs(size: int, folder: Path, reuse: bool) -> tuple[Path, Path]:
    """The two summarised runs of ``size`` (and 98 % of it) attempts."""
    pair = (folder / f"run-{size}", folder / f"base-{size}")
    for root, attempts in zip(pair, (size, size * 98 // 100), strict=True):
        if reuse and (root / "summary.json").is_file():
            continue
        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        written = synthesise(root, attempts)
        *_, code = _child(["report", str(root)], None, folder)
        elapsed_s = time.perf_counter() - started
        print(f"  synthesised and reported {written:,} attempts in {elapsed_s:.0f} s (exit {code})")
    return pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--baseline-root", type=Path, default=None)
    parser.add_argument("--baseline-max", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tokenstorm-gate-scale"))
    parser.add_argument("--keep", action="store_true", help="keep the synthesised runs")
    parser.add_argument("--reuse", action="store_true", help="use summarised runs in --dir")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    budget = args.dir / "budget.toml"
    budget.write_text(BUDGET, encoding="utf-8")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = f"{'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}  exit"
    print(f"{'attempts':>11}  {'command':<8} {'code':<9} {header}  same")
    for size in (int(s) for s in args.sizes.split(",")):
        run, base = _runs(size, args.dir, args.reuse)
        commands = {
            "gate": ["gate", str(run), "--budget", str(budget), "--baseline", str(base)],
            "compare": ["compare", str(run), str(base), "--out", str(args.dir / "cmp"), "--force"],
        }
        with_old = args.baseline_root is not None and size <= args.baseline_max
        codes = [("this", None)] + ([("baseline", args.baseline_root)] if with_old else [])
        for verb, arguments in commands.items():
            ours = ""
            for name, root in codes:
                elapsed_s, cpu_s, peak_mb, code = _child(arguments, root, args.dir)
                written = _written(verb, run, args.dir)
                ours = ours or written
                same = "" if root is None else "   yes" if written == ours else "   NO"
                figures = f"{elapsed_s:>8.1f} {cpu_s:>8.1f} {peak_mb:>12,.0f}  {code:>4.0f}"
                print(f"{size:>11,}  {verb:<8} {name:<9} {figures}{same}", flush=True)
        if not (args.keep or args.reuse):
            shutil.rmtree(run)
            shutil.rmtree(base)


if __name__ == "__main__":
    main()
