"""Plan build and preview time of a large plan: a mixed scenario in, CPU seconds out.

A seeded mix of every workload kind (streams and batch jobs with a shared prompt prefix of
varying size, chat, agent loops with a context window, multi-turn RAG) is planned, then
previewed as ``tokenstorm plan`` previews it; printed: the request and session counts and
the CPU time of each step (best of ``--repeat``), plus the preview's shared-prefix figures.

    .venv/bin/python bench/plan_preview.py [--requests 50000] [--seed 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.contract.records import PlannedRequest
from workloads.planner import build_plan
from workloads.preview import PlanPreview, preview
from workloads.scenario import Scenario, parse_scenario

#: Requests per session of the mix below, measured: sizes the duration for ``--requests``.
_REQUESTS_PER_SESSION = 2.3
_RATE_RPS = 100.0


def _scenario(requests: int, seed: int) -> Scenario:
    duration_s = max(requests / _REQUESTS_PER_SESSION / _RATE_RPS, 1.0)
    workloads: list[dict[str, Any]] = [
        {
            "kind": "stream",
            "share": 0.4,
            "shared_prefix_share": 0.3,
            "prompt_tokens": {"dist": "lognormal", "median": 600, "sigma": 0.8},
        },
        {"kind": "chat", "share": 0.2, "context_window_tokens": 4000},
        {
            "kind": "agent_loop",
            "share": 0.1,
            "context_window_tokens": 16000,
            "on_overflow": "summarize",
        },
        {"kind": "rag", "share": 0.2, "turns": {"dist": "geometric", "mean": 2, "max": 6}},
        {
            "kind": "batch",
            "share": 0.1,
            "shared_prefix_share": 0.5,
            "requests": {"dist": "geometric", "mean": 3},
        },
    ]
    return parse_scenario(
        {
            "seed": seed,
            "duration": f"{duration_s:.3f}s",
            "arrival": {"process": "poisson", "rate": _RATE_RPS},
            "workload": workloads,
        },
        source="<bench>",
    )


def _best_cpu_s(repeat: int, step: Any) -> tuple[float, Any]:
    best_s, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = step()
        best_s = min(best_s, time.process_time() - started)
    return best_s, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="about this many requests")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    scenario = _scenario(args.requests, args.seed)
    duration_s = scenario.duration
    build_s, plan = _best_cpu_s(args.repeat, lambda: build_plan(scenario))
    planned: list[PlannedRequest] = plan
    preview_s, summary = _best_cpu_s(args.repeat, lambda: preview(planned, duration_s))
    shown: PlanPreview = summary
    print(
        f"plan           {len(planned)} requests, {shown.sessions} sessions, "
        f"{duration_s:.0f} s at {_RATE_RPS:.0f} sessions/s"
    )
    print(f"build          {build_s:.2f} s CPU ({build_s / len(planned) * 1e6:.1f} us/request)")
    print(f"preview        {preview_s:.2f} s CPU ({preview_s / len(planned) * 1e6:.1f} us/request)")
    print(
        f"shared prefix  {shown.shared_prefix_prompt_share:.4f} across sessions, "
        f"{shown.prefix_reuse_prompt_share:.4f} reused"
    )


if __name__ == "__main__":
    main()
