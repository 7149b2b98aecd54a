"""Engine memory over a long run: how much this process's resident memory grows while the
asyncio engine sends ``--requests`` requests (default 1,000,000) of a streamed plan to the mock,
and, beside it, what planning alone costs the old way (the whole plan in a list) and the new
way (units drawn lazily), for the demo's mix.

The mock runs in its own process (pinned to core 0), so its memory is not counted. Here, as in
``tokenstorm run``: the plan streamed unit by unit (``workloads.plan_stream``), ``plan.jsonl``
and ``records.jsonl`` appended as the run goes, uvloop, the aiohttp client. Resident memory is
read from ``/proc/self/status`` every ``--every`` seconds; growth is the highest reading after
the warm-up (the first 5 % of requests: pools, caches and the allocator's arenas fill) minus
the reading at the end of the warm-up. The planning figures each come from a fresh process
(peak RSS minus RSS after imports), so neither skews the other.

    .venv/bin/python bench/engine_memory.py [--requests 1000000] [--rate 1000]
        [--plan-duration 3600] [--plan-rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import uvloop
from pinning import pin_apart

import harness
from harness.client.http import HttpClient
from harness.contract.apis import OPENAI_CHAT
from harness.contract.records import AttemptRecord, JsonlAppender
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig
from harness.plan_feed import PlanFeed
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings
from workloads.scenario import Scenario, load_scenario, parse_scenario

TARGET_GROWTH_MB = 100.0
WARM_UP_SHARE = 0.05
DEMO = Path(harness.__file__).parent / "data" / "demo.toml"


def rss_mb() -> float:
    """This process's resident memory (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _engine_scenario(requests: int, rate_rps: float) -> Scenario:
    return parse_scenario(
        {
            "seed": 11,
            "duration": requests / rate_rps,
            "arrival": {"process": "constant", "rate": rate_rps},
            "workload": [{"kind": "stream", "prompt_tokens": 32, "max_tokens": 8}],
            "target": {"model": "mock"},
        }
    )


def _engine_run(url: str, scenario: Scenario, every_s: float, folder: Path) -> dict[str, Any]:
    total = scenario.arrival.rate * scenario.duration
    appender = JsonlAppender(folder / "records.jsonl")
    feed = PlanFeed(scenario, scenario.duration, None, 0, 0, folder / "plan.jsonl")
    counts = {"records": 0, "ok": 0}
    outcomes: Counter[str] = Counter()
    samples: list[tuple[int, float]] = []

    def sink(record: AttemptRecord) -> None:
        appender.append(record)
        counts["records"] += 1
        counts["ok"] += record.outcome == "ok"
        outcomes[f"{record.outcome} {record.status_code} {(record.error_detail or '')[:60]}"] += 1

    config = EngineConfig(
        run_id="bench",
        duration_s=scenario.duration,
        drain_s=10.0,
        timeout_s=30.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(),
    )

    async def sample() -> None:
        while True:
            samples.append((counts["records"], rss_mb()))
            await asyncio.sleep(every_s)

    async def main() -> None:
        client = HttpClient(url, OPENAI_CHAT, max_connections=4096)
        sampler = asyncio.create_task(sample())
        try:
            engine = Engine(
                config, client, sink, now=time.perf_counter, rng=np.random.default_rng(0)
            )
            await engine.run_units(feed.units())
        finally:
            sampler.cancel()
            await client.close()

    start_mb = rss_mb()
    wall_start = time.perf_counter()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    finally:
        appender.close()
        feed.close()
    wall_s = time.perf_counter() - wall_start
    samples.append((counts["records"], rss_mb()))
    warm = [mb for done, mb in samples if done >= WARM_UP_SHARE * total]
    base_mb = warm[0] if warm else samples[-1][1]
    return {
        "requests": counts["records"],
        "ok_share": counts["ok"] / max(counts["records"], 1),
        "achieved_rps": counts["records"] / wall_s,
        "start_mb": start_mb,
        "warm_mb": base_mb,
        "peak_mb": max(mb for _, mb in samples),
        "end_mb": samples[-1][1],
        "growth_mb": max(warm, default=base_mb) - base_mb,
        "planned_written": feed.written,
        "outcomes": dict(outcomes.most_common(4)),
    }


def _plan_only(how: str, duration_s: float, rate: float) -> dict[str, float]:
    """In a fresh process: plan the demo mix at ``rate`` sessions/s for ``duration_s``."""
    import resource

    from workloads.plan_stream import in_plan_order, iter_units
    from workloads.planner import plan_run

    scenario = load_scenario(DEMO).model_copy(update={"duration": duration_s})
    scenario = scenario.model_copy(
        update={"arrival": scenario.arrival.model_copy(update={"rate": rate})}
    )
    before_mb = rss_mb()
    start = time.perf_counter()
    if how == "whole":
        count = len(plan_run(scenario).plan)
    else:
        count = sum(1 for _ in in_plan_order(iter_units(scenario)))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"requests": count, "seconds": seconds, "growth_mb": peak_mb - before_mb}


def _plan_in_child(how: str, duration_s: float, rate: float) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--plan-only",
            how,
            "--plan-duration",
            str(duration_s),
            "--plan-rate",
            str(rate),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS reads")
    parser.add_argument("--plan-duration", type=float, default=3600.0)
    parser.add_argument("--plan-rate", type=float, default=100.0)
    parser.add_argument("--plan-only", choices=["whole", "streamed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan_only:
        print(json.dumps(_plan_only(args.plan_only, args.plan_duration, args.plan_rate)))
        return
    print(
        f"planning only, the demo mix at {args.plan_rate:g} sessions/s for "
        f"{args.plan_duration:g} s (each in a fresh process):"
    )
    for how in ("whole", "streamed"):
        row = _plan_in_child(how, args.plan_duration, args.plan_rate)
        print(
            f"  {how:>8}: {row['requests']:,.0f} requests in {row['seconds']:.1f} s, "
            f"peak RSS growth {row['growth_mb']:,.0f} MB"
        )
    scenario = _engine_scenario(args.requests, args.rate)
    with EmbeddedMock(constant_settings(20.0, 2.0, 8)) as mock, tempfile.TemporaryDirectory() as d:
        mock_core, client_cores = pin_apart(mock.pid)
        print(
            f"engine: {args.requests:,} single streamed requests at {args.rate:g}/s "
            f"({scenario.duration:,.0f} s); mock on core {mock_core} (its memory not counted), "
            f"engine on cores {client_cores}"
        )
        row = _engine_run(mock.api_url, scenario, args.every, Path(d))
    print(
        f"  sent {row['requests']:,.0f} ({row['ok_share']:.1%} ok) at {row['achieved_rps']:.0f}/s; "
        f"plan lines written {row['planned_written']:,.0f}; outcomes {row['outcomes']}"
    )
    print(
        f"  RSS: start {row['start_mb']:.0f} MB, after warm-up {row['warm_mb']:.0f} MB, "
        f"peak {row['peak_mb']:.0f} MB, end {row['end_mb']:.0f} MB"
    )
    if row["ok_share"] < 0.99:
        print(
            "  NOT VALID as an engine figure: under 99 % of requests were answered ok, so the "
            "mock (or the machine) did not keep up and the growth includes a backlog of "
            "sessions in flight; rerun at a lower --rate"
        )
    verdict = "met" if row["growth_mb"] < TARGET_GROWTH_MB else "NOT met"
    print(
        f"  growth after warm-up: {row['growth_mb']:.1f} MB "
        f"(target < {TARGET_GROWTH_MB:g} MB: {verdict})"
    )


if __name__ == "__main__":
    main()
