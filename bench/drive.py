"""Sending a plan as a run does, shared by the engine benchmarks: a plan and a target URL in;
the schedule lag, ok share, outcomes and this process's CPU share out.

The engine on uvloop, the aiohttp client, the records appended to a file, exactly as in
``tokenstorm run`` (minus the reports)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvloop

from harness.client.http import HttpClient
from harness.contract.apis import OPENAI_CHAT
from harness.contract.records import AttemptRecord, JsonlAppender, PlannedRequest
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig


@dataclass(frozen=True, slots=True)
class Driven:
    """What sending one plan gave: per sent attempt its lag, and the outcomes."""

    duration_s: float
    sent: int
    ok: int
    lag_ms: np.ndarray
    outcomes: Counter[str]
    cpu_share: float

    def row(self) -> dict[str, float]:
        return {
            "achieved": self.sent / self.duration_s,
            "lag_p50": float(np.percentile(self.lag_ms, 50)),
            "lag_p99": float(np.percentile(self.lag_ms, 99)),
            "ok_share": self.ok / max(self.sent, 1),
            "cpu_share": self.cpu_share,
        }


def drive(url: str, plan: list[PlannedRequest], duration_s: float, records_path: Path) -> Driven:
    """Send ``plan`` to ``url`` (new sessions for ``duration_s``, 10 s to drain)."""
    appender = JsonlAppender(records_path)
    lags_s: list[float] = []
    outcomes: Counter[str] = Counter()

    def sink(record: AttemptRecord) -> None:
        appender.append(record)
        if record.sent_s is not None:
            lags_s.append(record.sent_s - record.scheduled_s)
            outcomes[record.outcome] += 1

    config = EngineConfig(
        run_id="bench",
        duration_s=duration_s,
        drain_s=10.0,
        timeout_s=30.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(),
    )

    async def main() -> None:
        client = HttpClient(url, OPENAI_CHAT, max_connections=4096)
        try:
            engine = Engine(
                config, client, sink, now=time.perf_counter, rng=np.random.default_rng(0)
            )
            await engine.run(plan)
        finally:
            await client.close()

    cpu_start, wall_start = time.process_time(), time.perf_counter()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    finally:
        appender.close()
    cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    return Driven(
        duration_s, len(lags_s), outcomes["ok"], np.array(lags_s) * 1000, outcomes, cpu_s / wall_s
    )
