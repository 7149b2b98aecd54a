"""Stream timing on loopback: TTFT and inter-token gaps match an exact (jitter-free) profile."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest

from mock_models.settings import constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]

_BODIES = {
    "/v1/chat/completions": {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    },
    "/v1/messages": {
        "model": "m",
        "stream": True,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    },
}


def _is_token_event(line: bytes) -> bool:
    return line.startswith(b"data: ") and (
        b'"text_delta"' in line or (b'"delta":{"content":"' in line and b'"content":""' not in line)
    )


@pytest.mark.parametrize("path", list(_BODIES))
def test_ttft_and_gaps_follow_the_profile(serving: Serving, path: str) -> None:
    async def scenario() -> tuple[float, float, list[float]]:
        settings = constant_settings(ttft_ms=100, itl_ms=20, output_tokens=10)
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            # A first request warms the connection pool so the measured one is not a connect.
            async with session.get(base_url + "/health") as response:
                await response.read()
            sent = time.perf_counter()
            async with session.post(base_url + path, json=_BODIES[path]) as response:
                first_byte = time.perf_counter()
                token_times = []
                async for line in response.content:
                    if _is_token_event(line):
                        token_times.append(time.perf_counter())
        return first_byte - sent, token_times[0] - sent, token_times

    first_byte_s, ttft_s, token_times = asyncio.run(scenario())
    gaps_ms = [(b - a) * 1000 for a, b in itertools.pairwise(token_times)]
    assert len(token_times) == 10
    assert first_byte_s < 0.05  # headers and the opening events go out before the first token
    assert 100 <= ttft_s * 1000 <= 115
    assert abs(statistics.median(gaps_ms) - 20) <= 2
    # Deadlines are absolute, so lateness does not add up over the stream.
    assert 100 + 9 * 20 <= (token_times[-1] - token_times[0] + ttft_s) * 1000 <= 100 + 9 * 20 + 15
