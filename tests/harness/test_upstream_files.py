"""Reading the upstream's ledger back: the streamed body is copied to the run's file as it
arrives, in bounded memory, each line checked; a stalled, cut or bad stream is a one-line
``LedgerError`` that leaves no file, and a run's own lines win over untagged ones."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from harness import upstream_files
from harness.contract.records import LedgerEntry, read_jsonl, to_json_line
from harness.run_dir import RunPaths
from harness.upstream_files import LedgerError, fetch_ledger, read_back

Route = Callable[[web.Request, asyncio.Event], Awaitable[web.StreamResponse]]


@contextlib.contextmanager
def _ledger_server(route: Route) -> Iterator[str]:
    """A tiny ledger server on 127.0.0.1 in a thread of its own (the fetch blocks); its URL.
    On exit, whatever the route still waits for is released and the server stops."""
    started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, str]] = queue.Queue()

    async def main() -> None:
        release = asyncio.Event()

        async def handler(request: web.Request) -> web.StreamResponse:
            return await route(request, release)

        app = web.Application()
        app.router.add_get("/tokenstorm/ledger", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/tokenstorm/ledger"
        started.put((asyncio.get_running_loop(), release, url))
        try:
            await release.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    loop, release, url = started.get(timeout=10)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(release.set)
        thread.join(timeout=10)


def _entry(run_id: str | None, number: int) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id,
        request_id=f"q{number}",
        attempt=1,
        received_s=number / 1000,
        deployment="d",
        model="m",
        api="openai-chat",
        stream=True,
        prompt_tokens=30,
        cached_tokens=0,
        completion_tokens=20,
        fault=None,
        outcome="ok",
        status_code=200,
        service_ms=12.5,
        lag_ms=0.0,
    )


def _streaming(body: Callable[[], Iterator[bytes]], then_wait: bool = False) -> Route:
    """A route that sends ``body``'s pieces chunked, then ends (or waits, sending nothing)."""

    async def route(request: web.Request, release: asyncio.Event) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in body():
            await response.write(piece)
        if then_wait:
            await release.wait()
        await response.write_eof()
        return response

    return route


def _in_pieces(lines: Iterator[bytes], piece_bytes: int) -> Iterator[bytes]:
    """Lines in pieces of an odd size, so lines straddle the pieces."""
    pending = b""
    for line in lines:
        pending += line
        while len(pending) >= piece_bytes:
            yield pending[:piece_bytes]
            pending = pending[piece_bytes:]
    if pending:
        yield pending


def _mixed(count: int) -> Iterator[bytes]:
    """The run's lines, another run's and untagged ones, interleaved."""
    for number in range(count):
        run_id = ("ours", "theirs", None)[number % 3]
        yield to_json_line(_entry(run_id, number))


def test_a_long_ledger_is_copied_as_it_arrives_in_bounded_memory(tmp_path: Path) -> None:
    async def mixed(request: web.Request, release: asyncio.Event) -> web.StreamResponse:
        lines = _mixed(int(request.query["lines"]))
        return await _streaming(lambda: _in_pieces(lines, 7_001))(request, release)

    count = 24_000
    size_bytes = sum(len(line) for line in _mixed(count))
    destination = tmp_path / "ledger.jsonl"
    with _ledger_server(mixed) as url:
        fetch_ledger(url + "?lines=30", "ours", destination)  # first-time allocations
        tracemalloc.start()
        kept, note = fetch_ledger(f"{url}?lines={count}", "ours", destination)
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert (kept, note) == (count // 3, None)
    ours = [_entry("ours", number) for number in range(0, count, 3)]
    assert list(read_jsonl(destination, LedgerEntry)) == ours
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ledger.jsonl"]
    # ~8 MB went over the wire (server and client both in this process; ~0.4 MB at peak
    # measured): a fetch that read the body whole and parsed it would hold several times that.
    assert peak_bytes < size_bytes // 10, (peak_bytes, size_bytes)


def test_untagged_lines_count_only_when_no_line_is_the_runs(tmp_path: Path) -> None:
    untagged = b"".join(to_json_line(_entry(None, n)) for n in range(5))
    other = to_json_line(_entry("theirs", 9))
    destination = tmp_path / "ledger.jsonl"
    with _ledger_server(_streaming(lambda: iter([untagged, other]))) as url:
        kept, note = fetch_ledger(url, "ours", destination)
    assert kept == 5 and note is not None and "5 lines without a run id" in note
    assert [e.request_id for e in read_jsonl(destination, LedgerEntry)] == [
        f"q{n}" for n in range(5)
    ]
    with _ledger_server(_streaming(lambda: iter([b"", other]))) as url:
        assert fetch_ledger(url, "ours", tmp_path / "none.jsonl") == (0, None)
    assert not (tmp_path / "none.jsonl").exists()


def _assert_one_line_and_no_file(exc: LedgerError, tmp_path: Path, *words: str) -> None:
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message
    assert all(word in message for word in words), message
    assert list(tmp_path.iterdir()) == []


def test_a_stalled_server_fails_the_fetch_within_its_read_timeout(tmp_path: Path) -> None:
    lines = b"".join(to_json_line(_entry("ours", n)) for n in range(3))
    with _ledger_server(_streaming(lambda: iter([lines]), then_wait=True)) as url:
        started_s = time.monotonic()
        with pytest.raises(LedgerError) as caught:
            fetch_ledger(url, "ours", tmp_path / "ledger.jsonl", read_timeout_s=0.3)
        waited_s = time.monotonic() - started_s
    assert 0.3 <= waited_s < 3.0
    _assert_one_line_and_no_file(caught.value, tmp_path, url, "nothing for 0.3 s", "3 lines")


@pytest.mark.parametrize(
    ("bad_line", "words"),
    [
        (b'{"run_id": "ours", "request_id"', ("line 3", "not a ledger line")),
        (b'["a", "list"]', ("line 3", "not a ledger line", "list")),
        (b'{"run_id": "ours"}', ("line 3", "not a ledger line", "missing")),
        (
            to_json_line(_entry("ours", 7)).replace(b'"received_s":0.007', b'"received_s":"7"'),
            ("line 3", "not a ledger line", 'received_s is "7"'),
        ),
    ],
)
def test_a_bad_line_is_a_one_line_error_naming_the_ledger(
    tmp_path: Path, bad_line: bytes, words: tuple[str, ...]
) -> None:
    good = b"".join(to_json_line(_entry("ours", n)) for n in range(2))
    body = good + bad_line.rstrip(b"\n") + b"\n" + good
    with _ledger_server(_streaming(lambda: iter([body]))) as url:
        with pytest.raises(LedgerError) as caught:
            fetch_ledger(url, "ours", tmp_path / "ledger.jsonl")
    _assert_one_line_and_no_file(caught.value, tmp_path, url, *words)


def test_a_stream_cut_short_is_an_error_not_a_shorter_ledger(tmp_path: Path) -> None:
    async def cut(request: web.Request, release: asyncio.Event) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(to_json_line(_entry("ours", 1)) + b'{"run_id": "ou')
        assert request.transport is not None
        request.transport.close()  # no last chunk
        return response

    with _ledger_server(cut) as url:
        with pytest.raises(LedgerError) as caught:
            fetch_ledger(url, "ours", tmp_path / "ledger.jsonl")
    _assert_one_line_and_no_file(caught.value, tmp_path, url, "could not fetch")


def test_a_last_line_without_its_end_is_an_error(tmp_path: Path) -> None:
    body = to_json_line(_entry("ours", 1)) + b'{"run_id": "ours"'
    with _ledger_server(_streaming(lambda: iter([body]))) as url:
        with pytest.raises(LedgerError) as caught:
            fetch_ledger(url, "ours", tmp_path / "ledger.jsonl")
    _assert_one_line_and_no_file(caught.value, tmp_path, url, "middle of line 2")


def test_a_line_that_never_ends_stops_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_files, "MAX_LINE_BYTES", 1_000)
    with _ledger_server(_streaming(lambda: iter([b"{" + b" " * 600] * 4))) as url:
        with pytest.raises(LedgerError) as caught:
            fetch_ledger(url, "ours", tmp_path / "ledger.jsonl")
    _assert_one_line_and_no_file(caught.value, tmp_path, url, "line 1", "past 1000 bytes")


def test_an_error_status_is_one_line(tmp_path: Path) -> None:
    async def missing(request: web.Request, release: asyncio.Event) -> web.StreamResponse:
        return web.Response(status=404, text="no ledger here\nat all")

    with _ledger_server(missing) as url:
        with pytest.raises(LedgerError) as caught:
            fetch_ledger(url, "ours", tmp_path / "ledger.jsonl")
    _assert_one_line_and_no_file(caught.value, tmp_path, url, "answered 404 Not Found")


@pytest.mark.parametrize("guessed", [True, False])
def test_read_back_writes_the_file_or_says_why_not(tmp_path: Path, guessed: bool) -> None:
    paths = RunPaths(tmp_path)
    manifest: dict[str, Any] = {}
    with _ledger_server(_streaming(lambda: iter([b"{not json\n"]))) as url:
        read_back(paths, manifest, url, "ours", origin="option", guessed=guessed)
        assert ("ledger_error" in manifest) is not guessed and not paths.ledger.exists()
        manifest.clear()
        other = to_json_line(_entry("theirs", 1))
    with _ledger_server(_streaming(lambda: iter([other]))) as url:
        read_back(paths, manifest, url, "ours", origin="option", guessed=guessed)
    # Nothing of this run: a named ledger still gets its (empty) file, a guessed one none.
    assert paths.ledger.exists() is not guessed
    assert not guessed or "ledger_url" not in manifest
    if not guessed:
        assert paths.ledger.read_bytes() == b"" and manifest["ledger_origin"] == "option"
        assert orjson.loads(orjson.dumps(manifest))["ledger_url"].endswith("/tokenstorm/ledger")
