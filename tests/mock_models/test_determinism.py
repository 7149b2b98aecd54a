"""Same seed and same request ids: the same answers, faults and lengths from any server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import orjson

from faults.profile import FaultProfile, parse_profile
from harness.contract.records import LedgerEntry
from mock_models.settings import DeploymentSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_DEPLOYMENT = DeploymentSettings(
    name="d",
    model="mock-d",
    ttft_ms=0.5,
    itl_ms=0.0,
    prefill_ms_per_token=0.0,
    jitter=0.3,
    output_tokens=20,
    output_tokens_sigma=0.8,
)
_FAULTS = parse_profile(
    {
        "rule": [
            {"kind": "http_429", "probability": 0.2},
            {"kind": "cut", "probability": 0.2, "params": {"after_tokens": 2}},
        ]
    },
    "test",
)
_BODY = {"model": "mock-d", "stream": True, "messages": [{"role": "user", "content": "x y"}]}


def _streamed_text(raw: bytes) -> str:
    pieces = []
    for line in raw.splitlines():
        if line.startswith(b"data: {"):
            choices = orjson.loads(line[6:])["choices"]
            if choices:
                pieces.append(choices[0]["delta"].get("content") or "")
    return "".join(pieces)


async def _run(serving: Serving, ledger_of: LedgerOf, seed: int) -> list[tuple[object, ...]]:
    settings = MockSettings(seed=seed, deployments=(_DEPLOYMENT,), faults=_FAULTS)
    async with serving(settings) as base_url, aiohttp.ClientSession() as session:
        texts = []
        for index in range(30):
            headers = {"x-tokenstorm-request-id": f"req-{index}", "x-tokenstorm-attempt": "1"}
            async with session.post(
                base_url + "/v1/chat/completions", json=_BODY, headers=headers
            ) as response:
                texts.append(_streamed_text(await response.read()))
        entries = await ledger_of(session, base_url)
    return [
        (e.request_id, e.completion_tokens, e.fault, e.outcome, text)
        for e, text in zip(entries, texts, strict=True)
    ]


def test_same_seed_same_results_other_seed_other_results(
    serving: Serving, ledger_of: LedgerOf
) -> None:
    async def scenario() -> None:
        first = await _run(serving, ledger_of, seed=21)
        second = await _run(serving, ledger_of, seed=21)
        other = await _run(serving, ledger_of, seed=22)
        assert first == second
        assert [row[1] for row in first] != [row[1] for row in other]
        assert len({row[1] for row in first}) > 3  # lengths really vary
        assert sum(1 for row in first if row[4]) > 10  # the words were compared too
        assert {row[2] for row in first} == {"http_429", "cut", None}

    asyncio.run(scenario())


def test_a_repeated_attempt_gets_fresh_draws(serving: Serving, ledger_of: LedgerOf) -> None:
    # A gateway retrying with the same headers must not meet the same fault forever.
    faults = FaultProfile.model_validate({"rule": [{"kind": "http_500", "probability": 0.5}]})
    settings = MockSettings(seed=4, deployments=(_DEPLOYMENT,), faults=faults)

    async def scenario() -> None:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            headers = {"x-tokenstorm-request-id": "same", "x-tokenstorm-attempt": "1"}
            for _ in range(20):
                async with session.post(
                    base_url + "/v1/chat/completions", json=_BODY, headers=headers
                ) as response:
                    await response.read()
            entries = await ledger_of(session, base_url)
        assert {e.fault for e in entries} == {"http_500", None}

    asyncio.run(scenario())
