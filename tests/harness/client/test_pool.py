"""The connection pool: sized from a synthetic plan's expected concurrency (or a warning when a
configured size is smaller), and every attempt that had to wait for a free connection counted
by the client."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.client.http import HttpClient
from harness.client.pool import (
    DEFAULT_MAX_CONNECTIONS,
    RESERVED_FILES,
    PeakTracker,
    expected_peak_in_flight,
    plan_pool,
)
from harness.contract.records import PlannedRequest


def _plan(rate_rps: float, duration_s: float, max_tokens: int) -> list[PlannedRequest]:
    count = round(rate_rps * duration_s)
    return [
        PlannedRequest(
            request_id=f"r{i}",
            session_id=f"s{i}",
            turn=1,
            offset_s=i / rate_rps,
            think_s=0.0,
            prompt_tokens=64,
            max_tokens=max_tokens,
            model="m",
            api="openai-chat",
            stream=True,
            messages=(),
        )
        for i in range(count)
    ]


def test_3200_per_second_needs_more_than_the_old_fixed_pool() -> None:
    # The case: 3,200 req/s held ~1,150 streams while the pool stayed at 1,024.
    plan = _plan(3200.0, 3.0, max_tokens=16)
    peak = expected_peak_in_flight(plan, timeout_s=60.0)
    # Each request counted 1 s + 16 x 40 ms = 1.64 s: Little's law, 3,200 x 1.64.
    assert peak == pytest.approx(3200 * 1.64, abs=2)
    pool = plan_pool(plan, 60.0, configured=None, open_files_limit=20_000)
    assert pool.sized_from_plan and pool.warning is None
    assert pool.max_connections >= peak > DEFAULT_MAX_CONNECTIONS


def test_the_timeout_bounds_how_long_a_request_is_counted() -> None:
    plan = _plan(100.0, 10.0, max_tokens=4096)
    assert expected_peak_in_flight(plan, timeout_s=2.0) == pytest.approx(200, abs=1)


def test_a_light_plan_keeps_the_default_pool() -> None:
    pool = plan_pool(_plan(5.0, 10.0, 128), 60.0, configured=None, open_files_limit=1024)
    assert (pool.max_connections, pool.warning) == (DEFAULT_MAX_CONNECTIONS, None)
    assert plan_pool([], 60.0, None, None).expected_peak_in_flight == 0


def test_a_configured_pool_smaller_than_the_plan_is_warned_about() -> None:
    plan = _plan(200.0, 5.0, max_tokens=64)
    pool = plan_pool(plan, 60.0, configured=100, open_files_limit=None)
    assert pool.max_connections == 100 and not pool.sized_from_plan
    assert pool.warning is not None
    assert "max_connections = 100" in pool.warning and "invalid" in pool.warning
    assert plan_pool(plan, 60.0, configured=5000, open_files_limit=None).warning is None


def test_too_few_open_files_caps_the_pool_and_says_so() -> None:
    plan = _plan(3200.0, 3.0, max_tokens=16)
    pool = plan_pool(plan, 60.0, configured=None, open_files_limit=4096)
    assert pool.max_connections == 4096 - RESERVED_FILES
    assert pool.warning is not None and "ulimit -n" in pool.warning


def test_attempts_beyond_the_pool_are_counted_as_waits() -> None:
    asyncio.run(_five_attempts_through_two_connections())


async def _five_attempts_through_two_connections() -> None:
    release = asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response(
            {
                "id": "c",
                "object": "chat.completion",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hi"},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", held)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = HttpClient(
        f"http://127.0.0.1:{runner.addresses[0][1]}/v1", "openai-chat", max_connections=2
    )
    try:
        sends = [
            asyncio.create_task(
                client.send(
                    model="m",
                    messages=[{"role": "user", "content": "x"}],
                    max_tokens=4,
                    stream=False,
                    timeout_s=10.0,
                )
            )
            for _ in range(5)
        ]
        await asyncio.sleep(0.2)
        release.set()
        results = await asyncio.gather(*sends)
    finally:
        await client.close()
        await runner.cleanup()
    assert all(r.status_code == 200 for r in results)
    assert (client.pool_waits, client.peak_in_flight) == (3, 5)
    assert client.tokenstorm_server is None  # a foreign server never named itself


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 20.0), st.integers(1, 200)).map(
            lambda pair: (round(pair[0], 1), pair[1])
        ),
        max_size=60,
    ),
    st.floats(0.5, 10.0),
)
def test_the_streaming_peak_equals_the_whole_plan_sweep(
    spans: list[tuple[float, int]], timeout_s: float
) -> None:
    plan = sorted(
        (
            dataclasses.replace(_plan(1.0, 1.0, max_tokens)[0], offset_s=offset_s)
            for offset_s, max_tokens in spans
        ),
        key=lambda request: request.offset_s,
    )
    tracker = PeakTracker(timeout_s)
    for request in plan:
        tracker.observe(request)
    assert tracker.peak == expected_peak_in_flight(plan, timeout_s)
