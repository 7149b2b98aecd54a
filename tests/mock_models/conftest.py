"""Fixtures for the mock server tests: an in-process server on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import orjson
import pytest

from harness.contract.records import LedgerEntry, from_dict
from mock_models.http.server import serve
from mock_models.settings import MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]


@contextlib.asynccontextmanager
async def _serving(settings: MockSettings, ledger_path: Path | None = None) -> AsyncIterator[str]:
    """Run ``serve`` on the current loop; yields its base URL; stops it on exit."""
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(settings, port=0, ledger_path=ledger_path, ready=ready.set_result)
    )
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    try:
        yield ready.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def serving() -> Serving:
    """``async with serving(settings) as base_url: ...`` inside the test's own loop."""
    return _serving


async def fetch_ledger(
    session: aiohttp.ClientSession, base_url: str, run_id: str | None = None, at_least: int = 0
) -> list[LedgerEntry]:
    """The ledger, once it holds ``at_least`` lines: a line lands when its attempt ends, which
    the server may learn of after the client did (polled, for up to 10 s)."""
    params = {"run_id": run_id} if run_id is not None else None
    for _ in range(1000):
        async with session.get(base_url + "/tokenstorm/ledger", params=params) as response:
            assert response.status == 200
            assert response.content_type == "application/x-ndjson"
            lines = [line for line in (await response.read()).splitlines() if line.strip()]
        if len(lines) >= at_least:
            break
        await asyncio.sleep(0.01)
    return [from_dict(LedgerEntry, orjson.loads(line)) for line in lines]


@pytest.fixture
def ledger_of() -> Callable[..., object]:
    """``await ledger_of(session, base_url, run_id=None, at_least=0)`` → the ledger entries."""
    return fetch_ledger
