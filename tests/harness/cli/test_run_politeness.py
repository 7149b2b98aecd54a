"""``tokenstorm run`` asks for ``/tokenstorm/ledger`` and ``/tokenstorm/faults`` only where they
are known to be: at a target whose answers name a tokenstorm mock or proxy, or at a ledger
URL the user gave. A foreign server (here a plain aiohttp one recording every path it gets)
sees nothing but the requests of the plan."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from harness.api.tokenstorm_headers import SERVER_HEADER
from harness.cli.main import main
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

_STREAM = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":0,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":0,"model":"m",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


@dataclass
class Foreign:
    url: str
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def foreign() -> Iterator[Foreign]:
    """An OpenAI-compatible server that is no tokenstorm part: it streams a two-word answer
    to every POST and answers 404 to anything else, noting each method and path."""
    server = Foreign("")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def anything(request: web.Request) -> web.StreamResponse:
        server.paths.append(f"{request.method} {request.path}")
        if request.method != "POST":
            raise web.HTTPNotFound()
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_STREAM)
        await response.write_eof()
        return response

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", anything)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def _run(tmp_path: Path, target: str, run_id: str, *extra: str) -> Path:
    args = ["run", "--target", target, "--rate", "10", "--duration", "1s"]
    args += ["--out", str(tmp_path), "--run-id", run_id, "--no-progress", "--no-report"]
    assert main([*args, *extra]) == 0
    return tmp_path / run_id


def test_a_foreign_target_is_never_asked_for_tokenstorm_routes(
    tmp_path: Path, foreign: Foreign
) -> None:
    folder = _run(tmp_path, foreign.url + "/v1", "foreign")
    assert foreign.paths, "the plan's requests reached the server"
    assert set(foreign.paths) == {"POST /v1/chat/completions"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["upstream_server"] is None
    assert manifest["ledger_url"] is None and "ledger_error" not in manifest
    assert not (folder / "ledger.jsonl").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["requests_ok"] == summary["requests_sent"] > 0


def test_a_ledger_given_is_asked_for_even_at_a_foreign_server(
    tmp_path: Path, foreign: Foreign
) -> None:
    ledger = foreign.url + "/tokenstorm/ledger"
    folder = _run(tmp_path, foreign.url + "/v1", "asked", "--ledger", ledger)
    assert "GET /tokenstorm/ledger" in foreign.paths
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "404" in manifest["ledger_error"]


def test_a_tokenstorm_mock_says_so_and_its_ledger_is_fetched(tmp_path: Path) -> None:
    with EmbeddedMock(constant_settings(2.0, 1.0, 4)) as mock:
        # Every answer names the mock, an unknown path's 404 too.
        assert httpx.get(mock.base_url + "/health").headers[SERVER_HEADER] == "mock"
        assert httpx.get(mock.base_url + "/nowhere").headers[SERVER_HEADER] == "mock"
        folder = _run(tmp_path, mock.api_url, "mock")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["upstream_server"] == "mock"
    assert manifest["ledger_origin"] == "target"
    assert manifest["fault_profile"]["rule"] == []
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["upstream_attempts"] == summary["client_attempts"] > 0
