"""The client against a loopback server that answers well, badly and not at all."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from harness.client.http import AttemptResult, HttpClient, retry_after_s
from harness.contract.outcomes import Outcome

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _chunk(
    content: str | None = None,
    usage: dict[str, Any] | None = None,
    finish: str | None = None,
    role: bool = False,
) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta = {"role": "assistant", "content": ""}
    elif content is not None:
        delta = {"content": content}
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m-served",
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def _stream_start(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "x-tokenstorm-deployment": "dep-a"}
    )
    await response.prepare(request)
    await response.write(_chunk(role=True))
    return response


async def ok_stream(request: web.Request) -> web.StreamResponse:
    response = await _stream_start(request)
    for word in ("a ", "b ", "c "):
        await asyncio.sleep(0.01)
        await response.write(_chunk(word))
    await response.write(_chunk(finish="stop"))
    usage = {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 2},
    }
    await response.write(_chunk(usage=usage) + b"data: [DONE]\n\n")
    return response


async def cut_stream(request: web.Request) -> web.StreamResponse:
    response = await _stream_start(request)
    await response.write(_chunk("a "))
    await response.write_eof()
    return response


async def error_event(request: web.Request) -> web.StreamResponse:
    response = await _stream_start(request)
    await response.write(_chunk("a "))
    await response.write(b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n')
    return response


async def bad_json(request: web.Request) -> web.StreamResponse:
    response = await _stream_start(request)
    await response.write(b"data: {not json\n\n")
    return response


async def forever(request: web.Request) -> web.StreamResponse:
    response = await _stream_start(request)
    while True:
        await asyncio.sleep(0.01)
        await response.write(_chunk("x "))


async def hang(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.Response(text="late")


async def html(request: web.Request) -> web.StreamResponse:
    return web.Response(text="<html><body>Gateway</body></html>", content_type="text/html")


async def unauthorized(request: web.Request) -> web.StreamResponse:
    key = request.headers["Authorization"].removeprefix("Bearer ")
    return web.json_response(
        {"error": {"message": f"Incorrect API key provided: {key}"}}, status=401
    )


async def rate_limited(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        {"error": {"message": "slow down", "type": "rate_limit"}},
        status=429,
        headers={"retry-after-ms": "250", "retry-after": "1"},
    )


async def reset(request: web.Request) -> web.StreamResponse:
    response = await _stream_start(request)
    await response.write(_chunk("a "))
    await asyncio.sleep(0.02)
    sock = request.transport.get_extra_info("socket") if request.transport else None
    assert sock is not None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()  # type: ignore[union-attr]
    await asyncio.sleep(0.05)
    return response


async def anthropic_ok(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "model": "claude-x",
                    "usage": {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 4},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hi "},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "there "},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    for name, data in events:
        await response.write(f"event: {name}\r\ndata: ".encode() + orjson.dumps(data) + b"\r\n\r\n")
    return response


async def anthropic_overloaded(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(
        b'event: error\ndata: {"type": "error", "error": '
        b'{"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    )
    return response


async def slow_big_body(request: web.Request) -> web.StreamResponse:
    text = "word " * 100_000
    body = orjson.dumps(
        {
            "model": "m",
            "choices": [{"message": {"content": text}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 100_000},
        }
    )
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    for start in range(0, len(body), 65_536):
        await response.write(body[start : start + 65_536])
        await asyncio.sleep(0.005)
    return response


ROUTES: dict[str, Handler] = {
    "ok": ok_stream,
    "cut": cut_stream,
    "error": error_event,
    "badjson": bad_json,
    "forever": forever,
    "hang": hang,
    "html": html,
    "429": rate_limited,
    "reset": reset,
    "401": unauthorized,
    "big": slow_big_body,
}


async def _serve() -> tuple[web.AppRunner, str]:
    app = web.Application()
    for name, handler in ROUTES.items():
        app.router.add_post(f"/{name}/v1/chat/completions", handler)
    app.router.add_post("/anthropic/v1/messages", anthropic_ok)
    app.router.add_post("/overloaded/v1/messages", anthropic_overloaded)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _send(
    base: str,
    route: str,
    api: str = "openai-chat",
    timeout_s: float = 2.0,
    first_token_timeout_s: float | None = None,
) -> AttemptResult:
    client = HttpClient(
        f"{base}/{route}/v1",
        api,
        api_key="sk-secret",
        connect_timeout_s=1.0,
        now=asyncio.get_running_loop().time,
    )
    try:
        return await client.send(
            model="m",
            messages=[{"role": "user", "content": "hello there"}],
            max_tokens=8,
            stream=True,
            timeout_s=timeout_s,
            first_token_timeout_s=first_token_timeout_s,
            keep_text=True,
            client_prompt_tokens=2,
        )
    finally:
        await client.close()


def _run(
    route: str,
    virtual: Callable[[Callable[[], Awaitable[AttemptResult]]], Any] | None = None,
    **kwargs: Any,
) -> AttemptResult:
    """One attempt against ``route``; on virtual time when given the ``virtual`` fixture."""

    async def main() -> AttemptResult:
        runner, base = await _serve()
        try:
            return await _send(base, route, **kwargs)
        finally:
            await runner.cleanup()

    if virtual is not None:
        result: AttemptResult = virtual(main)
        return result
    return asyncio.run(main())


def test_complete_stream_is_ok_with_server_usage_and_token_times() -> None:
    result = _run("ok")
    assert result.outcome is Outcome.OK
    assert result.status_code == 200
    assert (result.prompt_tokens, result.completion_tokens, result.cached_tokens) == (7, 3, 2)
    assert result.usage_source == "server"
    assert result.model == "m-served" and result.deployment == "dep-a"
    assert result.text == "a b c "
    assert result.first_byte_s is not None and result.first_token_s is not None
    assert result.sent_s <= result.first_byte_s <= result.first_token_s
    assert len(result.token_times_s) == 2  # three content events: first + two more
    gaps = [
        b - a
        for a, b in zip(
            (result.first_token_s, *result.token_times_s), result.token_times_s, strict=False
        )
    ]
    assert all(gap >= 0.005 for gap in gaps)  # the server slept 10 ms between tokens
    assert result.done_s >= result.token_times_s[-1]


def test_stream_without_terminator_is_cut_with_client_counts() -> None:
    result = _run("cut")
    assert result.outcome is Outcome.STREAM_CUT
    assert result.usage_source == "client"
    assert result.completion_tokens == 1 and result.prompt_tokens == 2


def test_in_band_error_after_200_is_stream_error() -> None:
    result = _run("error")
    assert result.outcome is Outcome.STREAM_ERROR
    assert result.status_code == 200 and "overloaded" in (result.error_detail or "")


def test_malformed_chunk_is_protocol_error() -> None:
    result = _run("badjson")
    assert result.outcome is Outcome.PROTOCOL_ERROR


def test_never_ending_stream_times_out_at_its_deadline(virtual: Any) -> None:
    result = _run("forever", virtual, timeout_s=0.3)
    assert result.outcome is Outcome.TIMEOUT_STREAM
    assert result.done_s - result.sent_s == pytest.approx(0.3, abs=1e-9)  # virtual time


def test_no_answer_is_a_first_token_timeout(virtual: Any) -> None:
    result = _run("hang", virtual, timeout_s=5.0, first_token_timeout_s=0.2)
    assert result.outcome is Outcome.TIMEOUT_FIRST_TOKEN
    assert result.done_s - result.sent_s == pytest.approx(0.2, abs=1e-9)  # virtual time


def test_html_instead_of_a_stream_is_protocol_error() -> None:
    result = _run("html")
    assert result.outcome is Outcome.PROTOCOL_ERROR
    assert "text/html" in (result.error_detail or "")


def test_429_carries_status_body_and_retry_after() -> None:
    result = _run("429")
    assert result.outcome is Outcome.HTTP_429
    assert result.retry_after_s == 0.25  # retry-after-ms wins over retry-after
    assert "slow down" in (result.error_detail or "")


def test_an_echoed_api_key_never_reaches_the_error_detail() -> None:
    result = _run("401")
    assert result.outcome is Outcome.HTTP_4XX and result.status_code == 401
    assert "Incorrect API key" in (result.error_detail or "")
    assert "sk-secret" not in (result.error_detail or "")


def test_reset_mid_stream_is_reset() -> None:
    result = _run("reset")
    assert result.outcome is Outcome.RESET, result.error_detail


def test_refused_connection_is_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = asyncio.run(_send(f"http://127.0.0.1:{port}", "ok"))
    assert result.outcome is Outcome.CONNECT_ERROR
    assert result.status_code is None and result.usage_source is None


def test_anthropic_stream_usage_and_text() -> None:
    result = _run("anthropic", api="anthropic-messages")
    assert result.outcome is Outcome.OK
    assert result.text == "hi there "
    assert result.completion_tokens == 2
    assert result.prompt_tokens == 9 and result.cached_tokens == 4  # input + cache reads
    assert result.model == "claude-x"


def test_anthropic_error_event_is_stream_error() -> None:
    result = _run("overloaded", api="anthropic-messages")
    assert result.outcome is Outcome.STREAM_ERROR
    assert "overloaded_error" in (result.error_detail or "")


def test_a_whole_body_arriving_in_pieces_is_read_to_its_end() -> None:
    async def main() -> AttemptResult:
        runner, base = await _serve()
        client = HttpClient(f"{base}/big/v1", "openai-chat")
        try:
            return await client.send(
                model="m",
                messages=[{"role": "user", "content": "x"}],
                max_tokens=8,
                stream=False,
                timeout_s=10.0,
            )
        finally:
            await client.close()
            await runner.cleanup()

    result = asyncio.run(main())
    assert result.outcome is Outcome.OK, result.error_detail
    assert result.completion_tokens == 100_000


def test_retry_after_parsing() -> None:
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_s({}) is None
    assert (
        retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now_wall_s=1445412480.0)
        == 10.0
    )
    assert retry_after_s({"retry-after": "soon"}) is None
