"""The mock's ``itl_growth_per_min`` on real loopback: a run whose clock the mock was told reads
3 minutes gets answers paced 2 ** 3 times slower than a run that just began."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest

from harness.api.run_start import run_start_body
from mock_models.settings import MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]


def _settings() -> MockSettings:
    deployment = {
        "name": "growing",
        "model": "m",
        "ttft_ms": 0.0,
        "prefill_ms_per_token": 0.0,
        "itl_ms": 10.0,
        "jitter": 0.0,
        "output_tokens": 20,
        "output_tokens_sigma": 0.0,
        "itl_growth_per_min": 1.0,
    }
    return MockSettings.model_validate({"seed": 1, "deployments": [deployment]})


async def _answer_s(session: aiohttp.ClientSession, base_url: str, run_id: str) -> float:
    content = f"hello [tokenstorm run={run_id} request=q1]"
    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    began = time.monotonic()
    async with session.post(base_url + "/v1/chat/completions", json=body) as response:
        assert response.status == 200
        await response.read()
    return time.monotonic() - began


@pytest.mark.timing
def test_the_itl_grows_with_the_runs_clock(serving: Serving) -> None:
    async def scenario() -> tuple[float, float]:
        async with serving(_settings()) as base_url, aiohttp.ClientSession() as session:
            async with session.post(
                base_url + "/tokenstorm/runs", data=run_start_body("late", 180.0)
            ) as response:
                assert response.status == 200
            return await _answer_s(session, base_url, "late"), await _answer_s(
                session, base_url, "fresh"
            )

    late_s, fresh_s = asyncio.run(scenario())
    # 19 gaps of 10 ms: 0.19 s at the run's start, 8 times that 3 minutes in (1.52 s).
    assert late_s >= 1.4
    assert fresh_s < 1.0
