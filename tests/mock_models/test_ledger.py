"""The ledger: one line per attempt, served back as JSON lines, filtered, cleared, on file."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web

from harness.contract.ledger import Ledger
from harness.contract.records import LedgerEntry, read_jsonl, to_json_line
from mock_models.http.server import SERVICE_KEY, build_app
from mock_models.settings import constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_CHAT = {"model": "m", "messages": [{"role": "user", "content": "a b c"}], "stream": True}


def _carries_text(line: bytes) -> bool:
    if not line.startswith(b"data: {"):
        return False
    event = orjson.loads(line[6:])
    if "choices" in event:
        return bool(event["choices"] and event["choices"][0]["delta"].get("content"))
    return bool(event.get("delta", {}).get("text"))


def _ids(run_id: str, request_id: str, attempt: int = 1) -> dict[str, str]:
    return {
        "x-tokenstorm-run-id": run_id,
        "x-tokenstorm-request-id": request_id,
        "x-tokenstorm-attempt": str(attempt),
    }


async def _wait_for_entries(
    ledger_of: LedgerOf, session: aiohttp.ClientSession, base_url: str, count: int
) -> list[LedgerEntry]:
    # The server learns of a disconnect asynchronously; give it a moment, not a fixed sleep.
    for _ in range(200):
        entries = await ledger_of(session, base_url)
        if len(entries) >= count:
            return entries
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} ledger entries, got {len(entries)}")


def test_ledger_filter_clear_and_file(
    serving: Serving, ledger_of: LedgerOf, tmp_path: Path
) -> None:
    ledger_file = tmp_path / "ledger.jsonl"

    async def scenario() -> None:
        settings = constant_settings(ttft_ms=0, itl_ms=0, output_tokens=4)
        async with serving(settings, ledger_file) as base_url, aiohttp.ClientSession() as session:
            for run_id, request_id in (("run-a", "q1"), ("run-b", "q2"), ("run-a", "q3")):
                async with session.post(
                    base_url + "/v1/chat/completions", json=_CHAT, headers=_ids(run_id, request_id)
                ) as response:
                    await response.read()
            everything = await ledger_of(session, base_url)
            assert [e.request_id for e in everything] == ["q1", "q2", "q3"]
            assert all(e.outcome == "ok" and e.completion_tokens == 4 for e in everything)
            assert all(e.received_s >= 0 and e.service_ms >= 0 for e in everything)
            assert everything[0].received_s <= everything[1].received_s
            run_a = await ledger_of(session, base_url, "run-a")
            assert [e.request_id for e in run_a] == ["q1", "q3"]
            assert await ledger_of(session, base_url, "run-none") == []
            async with session.delete(base_url + "/tokenstorm/ledger") as response:
                assert response.status == 200
                assert (await response.json())["deleted"] == 3
            assert await ledger_of(session, base_url) == []
            async with session.get(base_url + "/health") as response:
                assert (await response.json()) == {"status": "ok"}
            assert await ledger_of(session, base_url) == []  # health is not an attempt
        assert [e.request_id for e in read_jsonl(ledger_file, LedgerEntry)] == ["q1", "q2", "q3"]

    asyncio.run(scenario())


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_client_disconnect_mid_stream_is_cancelled_with_partial_tokens(
    serving: Serving, ledger_of: LedgerOf, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    body = {**_CHAT, "max_tokens": 100}

    async def scenario() -> None:
        settings = constant_settings(ttft_ms=1, itl_ms=15, output_tokens=60)
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            response = await session.post(
                base_url + path, json=body, headers=_ids("run-c", "leaver")
            )
            content_events = 0
            async for line in response.content:
                if _carries_text(line):
                    content_events += 1
                    if content_events == 3:
                        break
            response.close()
            [entry] = await _wait_for_entries(ledger_of, session, base_url, 1)
            assert (entry.outcome, entry.status_code, entry.request_id) == (
                "cancelled",
                200,
                "leaver",
            )
            assert 3 <= entry.completion_tokens < 60

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_client_leaving_before_a_body_answer_is_cancelled(
    serving: Serving, ledger_of: LedgerOf
) -> None:
    body = {**_CHAT, "stream": False}

    async def scenario() -> None:
        settings = constant_settings(ttft_ms=30, itl_ms=20, output_tokens=50)
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            with pytest.raises(asyncio.TimeoutError):
                await session.post(
                    base_url + "/v1/chat/completions",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=0.1),
                )
            [entry] = await _wait_for_entries(ledger_of, session, base_url, 1)
            assert (entry.outcome, entry.status_code) == ("cancelled", 499)
            assert 1 <= entry.completion_tokens < 50  # generated before the client left

    asyncio.run(scenario())


def test_ledger_without_file_keeps_entries_in_memory() -> None:
    ledger = Ledger()
    entry = _entry("r", "q")
    ledger.append(entry)
    assert ledger.entries() == [entry] and ledger.entries("other") == []
    assert ledger.to_jsonl().count(b"\n") == 1
    assert ledger.clear() == 1 and len(ledger) == 0
    ledger.close()


def _entry(run_id: str, request_id: str) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id,
        request_id=request_id,
        attempt=1,
        received_s=0.5,
        deployment="d",
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


def test_a_ledger_on_file_serves_its_own_lines_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'{"an": "earlier process\'s line"}\n')  # not this ledger's: never served
    ledger = Ledger(path)
    for run_id, request_id in (("a", "q1"), ("b", "q2"), ("a", "q3")):
        ledger.append(_entry(run_id, request_id))
    assert len(ledger) == 3
    assert [e.request_id for e in ledger.entries("a")] == ["q1", "q3"]
    assert ledger.to_jsonl("b") == to_json_line(_entry("b", "q2"))
    with path.open("ab") as handle:
        handle.write(b'{"torn": ')  # a line still being written is not served
    assert [e.request_id for e in ledger.entries()] == ["q1", "q2", "q3"]
    assert ledger.clear() == 3 and ledger.entries() == [] and len(ledger) == 0
    ledger.close()


def test_a_ledger_on_file_holds_no_line_in_memory(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    entries = [_entry("a", f"q{i}") for i in range(5000)]
    tracemalloc.start()
    for entry in entries:
        ledger.append(entry)
    held_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ledger.close()
    in_memory = Ledger()
    tracemalloc.start()
    for entry in entries:
        in_memory.append(entry)
    kept_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # A list of 5,000 references alone is 40 KB: the file-backed ledger keeps none of it.
    assert held_bytes < 10_000 < 40_000 <= kept_bytes


async def _site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def test_a_ledger_on_file_is_served_as_a_stream_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    app = build_app(constant_settings(ttft_ms=0, itl_ms=0, output_tokens=1), ledger_path=path)
    for number in range(40_000):
        app[SERVICE_KEY].ledger.append(_entry("a" if number % 4 else "b", f"q{number}"))
    size_bytes = path.stat().st_size

    async def scenario() -> tuple[str, int, int, int, int]:
        runner, base_url = await _site(app)
        try:
            async with aiohttp.ClientSession() as session:
                tracemalloc.start()
                async with session.get(base_url + "/tokenstorm/ledger") as response:
                    chunked = response.headers.get("Transfer-Encoding", "")
                    served = lines = 0
                    async for data in response.content.iter_chunked(1 << 16):
                        served += len(data)
                        lines += data.count(b"\n")
                _, peak_bytes = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                async with session.get(base_url + "/tokenstorm/ledger?run_id=b") as response:
                    ours = (await response.read()).count(b"\n")
        finally:
            await runner.cleanup()
        return chunked, served, lines, ours, peak_bytes

    chunked, served, lines, ours, peak_bytes = asyncio.run(scenario())
    assert chunked == "chunked"
    assert (served, lines, ours) == (size_bytes, 40_000, 10_000)
    # The answer is ~13 MB: a server that built it in memory would hold all of it, and more.
    # Streamed, server and client hold a few 64 KB pieces and buffers (~0.5 MB measured).
    assert peak_bytes < size_bytes // 8, (peak_bytes, size_bytes)


def test_pieces_hold_whole_lines_and_at_most_their_size() -> None:
    ledger = Ledger()
    for number in range(300):
        ledger.append(_entry("a" if number % 2 else "b", f"q{number}"))
    line_bytes = len(to_json_line(_entry("a", "q100")))
    pieces = list(ledger.pieces(piece_bytes=10 * line_bytes))
    assert all(piece.endswith(b"\n") and len(piece) <= 10 * line_bytes for piece in pieces)
    assert b"".join(pieces) == ledger.to_jsonl() and len(pieces) >= 25
    assert b"".join(ledger.pieces("a", piece_bytes=1)).count(b"\n") == 150  # one line each
    ledger.close()
