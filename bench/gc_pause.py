"""How long one full garbage collection stalls the event loop over a plan, with and without
the heap frozen as the runner does before sending (``harness.run_loop.freeze_heap``).

Builds an agent-loop plan of about ``--rate`` x ``--duration`` sessions (5 turns each), then
times ``gc.collect()`` three times on the live heap and once after ``gc.freeze()``. A full
collection is what CPython runs by itself once enough long-lived objects pile up; during a
run it would hold every request behind it (schedule lag).

    .venv/bin/python bench/gc_pause.py [--rate 200] [--duration 600]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workloads.planner import build_plan
from workloads.scenario import parse_scenario


def _collect_ms() -> float:
    start_s = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - start_s) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="sessions per second")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of plan")
    args = parser.parse_args()
    scenario = parse_scenario(
        {
            "name": "gc-pause",
            "seed": 1,
            "duration": f"{args.duration}s",
            "arrival": {"process": "poisson", "rate": f"{args.rate}/s"},
            "workload": [{"kind": "agent_loop", "system_prompt_tokens": 1000, "turns": 5}],
        },
        "gc-pause",
    )
    started_s = time.perf_counter()
    plan = build_plan(scenario)
    built_s = time.perf_counter() - started_s
    print(
        f"plan: {len(plan):,} requests built in {built_s:.1f} s; "
        f"{len(gc.get_objects()):,} objects tracked by the collector"
    )
    live = [_collect_ms() for _ in range(3)]
    gc.freeze()
    frozen = _collect_ms()
    gc.unfreeze()
    print(f"full collection, heap live:   {min(live):7.1f} - {max(live):7.1f} ms (3 runs)")
    print(f"full collection, heap frozen: {frozen:7.1f} ms")


if __name__ == "__main__":
    main()
