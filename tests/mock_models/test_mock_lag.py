"""The mock tells when it is itself the bottleneck: an answer whose tokens went out late
because the server's loop was busy carries that lag in its ledger line and in /metrics; an
answer served on time does not. Constant and engine deployments, streamed and not.

A ``timing`` test: real clock and loopback, so it runs in CI with bounds wide enough for a loaded
machine (the late answer is held up by 80 ms; one on time may still catch a few ms of a busy
machine). The exact accounting is tested on a fake clock (``test_engine_lag``, ``test_ticker``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from harness.contract.records import LedgerEntry
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_BLOCK_S = 0.08
#: What a loaded machine may add to an on-time answer's mean lag per token, in ms.
_BUSY_MACHINE_MS = 10.0

pytestmark = pytest.mark.timing


def _settings(mode: str) -> MockSettings:
    if mode == "constant":
        deployment = DeploymentSettings(
            name="d",
            model="m",
            ttft_ms=5.0,
            itl_ms=10.0,
            jitter=0.0,
            output_tokens=20,
            output_tokens_sigma=0.0,
        )
    else:
        engine = EngineSettings(
            max_num_seqs=4,
            max_waiting_seqs=4,
            step_base_ms=10.0,
            prefill_ms_per_token=0.0,
            decode_ms_per_seq=0.0,
        )
        deployment = DeploymentSettings(
            name="d",
            model="m",
            jitter=0.0,
            output_tokens=20,
            output_tokens_sigma=0.0,
            engine=engine,
        )
    return MockSettings(seed=1, deployments=(deployment,))


async def _ask(
    session: aiohttp.ClientSession,
    base_url: str,
    request_id: str,
    stream: bool,
    block_after_s: float | None,
) -> None:
    """One answer; with ``block_after_s``, the server's loop (this one) is blocked that long
    after sending, as a mock whose core is saturated would be."""
    body: dict[str, Any] = {
        "model": "m",
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}],
    }
    headers = {"x-tokenstorm-request-id": request_id, "x-tokenstorm-attempt": "1"}
    if block_after_s is not None:
        asyncio.get_running_loop().call_later(block_after_s, time.sleep, _BLOCK_S)
    async with session.post(
        base_url + "/v1/chat/completions", json=body, headers=headers
    ) as response:
        assert response.status == 200
        await response.read()


@pytest.mark.parametrize("mode", ["constant", "engine"])
@pytest.mark.parametrize("stream", [True, False])
def test_a_late_answer_carries_its_lag_and_an_on_time_one_none(
    serving: Serving, ledger_of: LedgerOf, mode: str, stream: bool
) -> None:
    async def scenario() -> tuple[dict[str, LedgerEntry], str]:
        async with serving(_settings(mode)) as base_url, aiohttp.ClientSession() as session:
            # The first answer of a fresh server builds its tables: not measured.
            await _ask(session, base_url, "warm-up", stream, None)
            await _ask(session, base_url, "on-time", stream, None)
            # Blocked from 150 to 230 ms: tokens (every 10 ms to ~195 ms) and the body (due at
            # ~195 ms) wait for the mock.
            await _ask(session, base_url, "late", stream, 0.15)
            entries = {e.request_id or "": e for e in await ledger_of(session, base_url)}
            async with session.get(base_url + "/metrics") as response:
                metrics = await response.text()
        return entries, metrics

    entries, metrics = asyncio.run(scenario())
    on_time, late = entries["on-time"].lag_ms, entries["late"].lag_ms
    assert on_time is not None and late is not None
    # The mean per token: streamed constant ~14 ms (five tokens 35-75 ms late of 20), engine
    # ~22 ms (one step 70 ms late, then the schedule moved 60 ms for every later token), a body
    # ~36 ms; a busy machine only adds to it.
    assert 4.0 <= late <= 10 * _BLOCK_S * 1000
    assert on_time < min(late, _BUSY_MACHINE_MS)
    assert entries["late"].completion_tokens == 20
    count = next(
        line
        for line in metrics.splitlines()
        if line.startswith("tokenstorm:mock_lag_seconds_count")
    )
    assert count.endswith(" 3")
