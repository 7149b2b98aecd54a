"""The streamed ledger answer: pieces made off the loop, sent chunked one after another; a
piece that fails cuts the body short (the client sees an incomplete answer, not a shorter
ledger); a client that leaves stops the making."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator

import aiohttp
import pytest
from aiohttp import web

from faults.ledger_route import stream_ledger


async def _site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/tokenstorm/ledger"


def _serve(pieces: Generator[bytes, None, None]) -> web.Application:
    async def route(request: web.Request) -> web.StreamResponse:
        return await stream_ledger(request, pieces)

    app = web.Application()
    app.router.add_get("/tokenstorm/ledger", route)
    return app


def test_pieces_are_made_off_the_loop_and_sent_in_order() -> None:
    threads: set[int] = set()

    def pieces() -> Generator[bytes, None, None]:
        for number in range(50):
            threads.add(threading.get_ident())
            yield b'{"n": %d}\n' % number

    async def scenario() -> tuple[str, bytes]:
        runner, url = await _site(_serve(pieces()))
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                return response.headers.get("Transfer-Encoding", ""), await response.read()
        finally:
            await runner.cleanup()

    chunked, body = asyncio.run(scenario())
    assert chunked == "chunked"
    assert body == b"".join(b'{"n": %d}\n' % n for n in range(50))
    assert threading.get_ident() not in threads


def test_a_piece_that_fails_cuts_the_body_short() -> None:
    def pieces() -> Generator[bytes, None, None]:
        yield b'{"n": 1}\n'
        raise OSError("the ledger file went away")

    async def scenario() -> None:
        runner, url = await _site(_serve(pieces()))
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_client_that_leaves_stops_the_making() -> None:
    made: list[int] = []
    closed = threading.Event()

    def pieces() -> Generator[bytes, None, None]:
        try:
            for number in range(100_000):
                made.append(number)
                yield b"x" * 65_535 + b"\n"
        finally:
            closed.set()

    async def scenario() -> None:
        runner, url = await _site(_serve(pieces()))
        try:
            async with aiohttp.ClientSession() as session:
                response = await session.get(url)
                await response.content.readexactly(65_536)
                response.close()
                for _ in range(500):  # the server learns of it asynchronously
                    if closed.is_set():
                        break
                    await asyncio.sleep(0.01)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    assert closed.is_set() and len(made) < 1_000
