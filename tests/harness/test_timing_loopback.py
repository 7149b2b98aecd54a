"""Measured TTFT and ITL against a constant-latency mock on loopback match its settings."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from harness.client.http import HttpClient
from harness.contract.records import AttemptRecord, PlannedMessage, PlannedRequest
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

TTFT_MS, ITL_MS, TOKENS = 100.0, 20.0, 12


def _plan(count: int, api: str, stream: bool) -> list[PlannedRequest]:
    return [
        PlannedRequest(
            request_id=f"s{i}-t1",
            session_id=f"s{i}",
            turn=1,
            offset_s=0.1 * i,
            think_s=0.0,
            prompt_tokens=50,
            max_tokens=64,
            model="any-model",
            api=api,
            stream=stream,
            messages=(PlannedMessage(role="user", tokens=50, seed=i),),
            tags={},
        )
        for i in range(count)
    ]


def _run(url: str, api: str, stream: bool) -> list[AttemptRecord]:
    records: list[AttemptRecord] = []
    config = EngineConfig(
        run_id="timing",
        duration_s=5.0,
        drain_s=5.0,
        timeout_s=10.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(),
    )

    async def main() -> None:
        client = HttpClient(url, api)
        try:
            engine = Engine(
                config, client, records.append, now=time.perf_counter, rng=np.random.default_rng(0)
            )
            await engine.run(_plan(20, api, stream))
        finally:
            await client.close()

    asyncio.run(main())
    return records


@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages"])
def test_streamed_ttft_and_itl_match_the_mock(api: str) -> None:
    with EmbeddedMock(constant_settings(TTFT_MS, ITL_MS, TOKENS)) as mock:
        records = _run(mock.api_url, api, stream=True)
    assert [r.outcome for r in records] == ["ok"] * 20
    ttft_ms = np.array(
        [
            (r.first_token_s - r.sent_s) * 1000
            for r in records  # type: ignore[operator]
        ]
    )
    gaps_ms = np.concatenate([np.diff([r.first_token_s, *r.token_times_s]) * 1000 for r in records])
    assert all(r.completion_tokens == TOKENS and r.usage_source == "server" for r in records)
    assert len(gaps_ms) == 20 * (TOKENS - 1)
    assert TTFT_MS <= np.median(ttft_ms) <= TTFT_MS + 4, ttft_ms
    assert ttft_ms.max() < TTFT_MS + 25, ttft_ms
    assert abs(np.median(gaps_ms) - ITL_MS) <= 1.0, gaps_ms
    assert np.percentile(gaps_ms, 90) < ITL_MS + 4, gaps_ms
    lag_ms = np.array([(r.sent_s - r.scheduled_s) * 1000 for r in records])  # type: ignore[operator]
    # Sent when planned (the p99 target under load is bench/engine_rate.py's, not a test's).
    assert lag_ms.min() >= 0 and np.median(lag_ms) < 5, lag_ms


def test_non_streamed_latency_is_ttft_plus_all_gaps() -> None:
    with EmbeddedMock(constant_settings(TTFT_MS, ITL_MS, TOKENS)) as mock:
        records = _run(mock.api_url, "openai-chat", stream=False)
    assert [r.outcome for r in records] == ["ok"] * 20
    expected_ms = TTFT_MS + ITL_MS * (TOKENS - 1)
    e2e_ms = np.array([(r.done_s - r.sent_s) * 1000 for r in records])  # type: ignore[operator]
    assert expected_ms <= np.median(e2e_ms) <= expected_ms + 6, e2e_ms
    assert all(r.completion_tokens == TOKENS for r in records)
