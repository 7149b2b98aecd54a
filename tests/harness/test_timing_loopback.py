"""Measured TTFT and ITL against a constant-latency mock on loopback match its settings: the
real clock end to end (the harness's client and engine, the mock's ticker on a socket).

A ``timing`` test: it runs in CI, with bounds wide enough for a loaded machine (the exact
timing of the ticker and the engines is tested on a fake clock in ``tests/mock_models``)."""

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
#: Lateness a loaded machine may add to a median (its maximum may add more).
SLACK_MS = 30.0

pytestmark = pytest.mark.timing


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
    assert all(r.completion_tokens == TOKENS and r.usage_source == "server" for r in records)

    def since_sent_ms(stamp: float | None, record: AttemptRecord) -> float:
        assert stamp is not None and record.sent_s is not None
        return (stamp - record.sent_s) * 1000

    first_byte_ms = np.array([since_sent_ms(r.first_byte_s, r) for r in records])
    ttft_ms = np.array([since_sent_ms(r.first_token_s, r) for r in records])
    last_ms = np.array([since_sent_ms(r.token_times_s[-1], r) for r in records])
    gaps_ms = np.concatenate([np.diff([r.first_token_s, *r.token_times_s]) * 1000 for r in records])
    assert len(gaps_ms) == 20 * (TOKENS - 1)
    # The headers and opening events go out at once, before the first token.
    assert np.median(first_byte_ms) < TTFT_MS / 2, first_byte_ms
    assert TTFT_MS <= np.median(ttft_ms) <= TTFT_MS + SLACK_MS, ttft_ms
    assert abs(np.median(gaps_ms) - ITL_MS) <= ITL_MS / 4, gaps_ms
    # Deadlines are absolute: lateness does not add up over a stream.
    whole_ms = TTFT_MS + ITL_MS * (TOKENS - 1)
    assert whole_ms <= np.median(last_ms) <= whole_ms + SLACK_MS, last_ms
    lag_ms = np.array([(r.sent_s - r.scheduled_s) * 1000 for r in records])  # type: ignore[operator]
    # Sent when planned (the p99 target under load is bench/engine_rate.py's, not a test's).
    assert lag_ms.min() >= 0 and np.median(lag_ms) < SLACK_MS, lag_ms


def test_non_streamed_latency_is_ttft_plus_all_gaps() -> None:
    with EmbeddedMock(constant_settings(TTFT_MS, ITL_MS, TOKENS)) as mock:
        records = _run(mock.api_url, "openai-chat", stream=False)
    assert [r.outcome for r in records] == ["ok"] * 20
    expected_ms = TTFT_MS + ITL_MS * (TOKENS - 1)
    e2e_ms = np.array([(r.done_s - r.sent_s) * 1000 for r in records])  # type: ignore[operator]
    assert expected_ms <= np.median(e2e_ms) <= expected_ms + SLACK_MS, e2e_ms
    assert all(r.completion_tokens == TOKENS for r in records)
