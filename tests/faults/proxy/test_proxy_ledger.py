"""The fault proxy serves its ledger like the mock: streamed (chunked) from its file or from
memory, all of it or one run's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from faults.profile import FaultProfile
from faults.proxy.server import STATE_KEY, build_app
from harness.contract.records import LedgerEntry


def _entry(run_id: str, request_id: str) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id,
        request_id=request_id,
        attempt=1,
        received_s=0.5,
        deployment="upstream",
        model="m",
        api="openai-chat",
        stream=True,
        prompt_tokens=3,
        cached_tokens=0,
        completion_tokens=2,
        fault=None,
        outcome="ok",
        status_code=200,
        service_ms=1.0,
    )


@pytest.mark.parametrize("on_file", [True, False])
def test_the_proxy_streams_its_ledger(tmp_path: Path, on_file: bool) -> None:
    ledger_path = tmp_path / "ledger.jsonl" if on_file else None
    app = build_app("http://127.0.0.1:9", FaultProfile(), ledger_path=ledger_path)

    async def scenario() -> tuple[str, int, int]:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/tokenstorm/ledger"
        for number in range(3_000):
            app[STATE_KEY].ledger.append(_entry("a" if number % 3 else "b", f"q{number}"))
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as response:
                    chunked = response.headers.get("Transfer-Encoding", "")
                    everything = (await response.read()).count(b"\n")
                async with session.get(url, params={"run_id": "b"}) as response:
                    run_b = (await response.read()).count(b"\n")
        finally:
            await runner.cleanup()
        return chunked, everything, run_b

    assert asyncio.run(scenario()) == ("chunked", 3_000, 1_000)
