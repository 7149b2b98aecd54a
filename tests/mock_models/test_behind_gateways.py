"""Faults behind a gateway that drops our headers: the mock names each attempt by the prompt
tag and its own count of the request's arrivals (not a header a gateway may repeat or reset),
times windows on the run's clock (from the run's first tagged request, or the start the run
announces at ``/tokenstorm/runs``), and draws each attempt's fault from (seed, request id,
attempt), whatever order attempts arrive in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from harness.api.run_start import read_run_start, run_start_body
from mock_models.settings import MockSettings, constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]
#: What LiteLLM's SDK sends upstream on every attempt, retries included.
STAINLESS = {"x-stainless-retry-count": "0"}


def _settings(rules: list[dict[str, Any]], seed: int = 5) -> MockSettings:
    base = constant_settings(ttft_ms=0, itl_ms=0, output_tokens=4, seed=seed)
    return MockSettings.model_validate(
        {"seed": seed, "deployments": base.deployments, "faults": {"rule": rules}}
    )


async def _post(
    session: aiohttp.ClientSession,
    base_url: str,
    run_id: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> int:
    """One tagged attempt without our headers; its status."""
    content = f"hello there [tokenstorm run={run_id} request={request_id}]"
    body = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": content}]}
    async with session.post(
        base_url + "/v1/chat/completions", json=body, headers=headers or STAINLESS
    ) as response:
        await response.read()
        return response.status


def test_first_attempts_counts_the_requests_arrivals_not_the_sdks_header(
    serving: Serving,
) -> None:
    rules = [{"kind": "http_429", "probability": 1.0, "first_attempts": 1}]

    async def scenario() -> list[list[int]]:
        async with serving(_settings(rules)) as base_url, aiohttp.ClientSession() as session:
            tagged = [await _post(session, base_url, "run-a", "q1") for _ in range(3)]
            # A gateway retrying upstream repeats the client's own attempt header: the mock
            # still counts the arrivals of run-b's q1.
            repeated = [
                await _post(session, base_url, "run-b", "q1", {"x-tokenstorm-attempt": "1"})
                for _ in range(2)
            ]
            return [tagged, repeated]

    tagged, repeated = asyncio.run(scenario())
    assert tagged == [429, 200, 200]
    assert repeated == [429, 200]  # a run of its own: its own count


def test_windows_run_on_the_runs_clock_announced_or_from_its_first_request(
    serving: Serving,
) -> None:
    rules = [{"kind": "http_500", "probability": 1.0, "window": {"start": 5, "end": 3600}}]

    async def scenario() -> tuple[int, int, int, int]:
        async with serving(_settings(rules)) as base_url, aiohttp.ClientSession() as session:
            # Run "late" says its clock already reads 10 s: the window holds it.
            async with session.post(
                base_url + "/tokenstorm/runs", data=run_start_body("late", 10.0)
            ) as response:
                assert response.status == 200
                assert await response.json() == {"run_id": "late", "run_clock_s": 10.0}
            late = await _post(session, base_url, "late", "q1")
            # Run "fresh" never said: its clock starts with its first tagged request, at 0.
            fresh = await _post(session, base_url, "fresh", "q1")
            async with session.post(base_url + "/tokenstorm/runs", data=b"[]") as response:
                bad = response.status
            async with session.post(base_url + "/tokenstorm/admin/reset") as response:
                forgotten = (await response.json())["runs"]
            return late, fresh, bad, forgotten

    assert asyncio.run(scenario()) == (500, 200, 400, 2)


def _faults_by_request(serving: Serving, order: list[int]) -> dict[str, list[int]]:
    """Three attempts of each of 12 tagged requests, the requests taken in ``order``."""
    rules = [{"kind": "http_503", "probability": 0.5}]

    async def scenario() -> dict[str, list[int]]:
        seen: dict[str, list[int]] = {}
        async with serving(_settings(rules)) as base_url, aiohttp.ClientSession() as session:
            for _ in range(3):
                for index in order:
                    request_id = f"s{index:03d}-t1"
                    status = await _post(session, base_url, "run-x", request_id)
                    seen.setdefault(request_id, []).append(status)
        return seen

    return asyncio.run(scenario())


def test_draws_follow_request_and_attempt_not_arrival_order(serving: Serving) -> None:
    forward = _faults_by_request(serving, list(range(12)))
    backward = _faults_by_request(serving, list(reversed(range(12))))
    assert forward == backward
    statuses = {status for attempts in forward.values() for status in attempts}
    assert statuses == {200, 503}  # the draws do spread


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "send a JSON object"),
        (b'{"run_clock_s": 1}', "run_id"),
        (b'{"run_id": "r", "run_clock_s": "1s"}', "run_clock_s"),
        (b'{"run_id": "r", "run_clock_s": -1}', "not negative"),
    ],
)
def test_a_bad_run_start_is_one_line(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_run_start(raw)
    assert read_run_start(run_start_body("r", 1.5)) == ("r", 1.5)
