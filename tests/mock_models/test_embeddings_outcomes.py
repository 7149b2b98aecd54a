"""Embeddings attempts that go wrong are logged as the chat ones are: a bug of the mock is an
``http_5xx`` with status 500 (never ``ok``), and an attempt a ``down`` window cut off its
deployment's own listener is a ``reset`` by ``down``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from mock_models.http import embeddings_route
from mock_models.settings import DeploymentSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
_RUN = {"x-tokenstorm-run-id": "r1", "x-tokenstorm-request-id": "q1", "x-tokenstorm-attempt": "1"}


def _deployment(name: str, ttft_ms: float = 0.0, port: int | None = None) -> DeploymentSettings:
    return DeploymentSettings(
        name=name,
        model="m",
        ttft_ms=ttft_ms,
        prefill_ms_per_token=0,
        itl_ms=0,
        jitter=0,
        output_tokens=4,
        output_tokens_sigma=0,
        port=port,
    )


def test_a_bug_while_embedding_is_a_500_in_the_ledger(
    serving: Serving, ledger_of: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> bytes:
        raise RuntimeError("a bug in the mock")

    monkeypatch.setattr(embeddings_route, "embeddings_body", broken)
    settings = MockSettings(seed=1, deployments=(_deployment("d"),))

    async def scenario() -> None:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            async with session.post(
                base_url + "/v1/embeddings", headers=_RUN, json={"model": "m", "input": "hi there"}
            ) as response:
                assert response.status == 500
            entries = await ledger_of(session, base_url, run_id="r1")
        assert [(e.outcome, e.status_code) for e in entries] == [("http_5xx", 500)]

    asyncio.run(scenario())


def test_embeddings_cut_by_a_down_window_are_a_reset_by_down(
    serving: Serving, ledger_of: Callable[..., Any]
) -> None:
    # The window runs on the run's clock, which starts at this request: it lands mid-encoding.
    rules = [
        {
            "kind": "down",
            "window": {"start": "0.3s", "end": "5s"},
            "targets": {"deployments": ["replica-b"]},
        }
    ]
    settings = MockSettings.model_validate(
        {
            "seed": 1,
            "faults": {"rule": rules},
            "deployments": [
                _deployment("replica-a", port=0).model_dump(),
                _deployment("replica-b", ttft_ms=3000, port=0).model_dump(),
            ],
        }
    )

    async def scenario() -> None:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            async with session.get(base_url + "/tokenstorm/listeners") as response:
                port_b = (await response.json())["replica-b"]["port"]
            with pytest.raises(aiohttp.ClientError):
                async with session.post(
                    f"http://127.0.0.1:{port_b}/v1/embeddings",
                    headers=_RUN,
                    json={"model": "m", "input": "hi"},
                    timeout=aiohttp.ClientTimeout(total=2.5),
                ) as response:
                    await response.read()
            entries = await ledger_of(session, base_url, run_id="r1", at_least=1)
        assert [(e.outcome, e.fault) for e in entries] == [("reset", "down")]

    asyncio.run(scenario())
