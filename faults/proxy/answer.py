"""Whole (non-streamed) answers through the proxy: an injected error status, or the upstream's
body relayed with a body fault applied (cut, reset, stall, in-band error, malformed JSON, usage
dropped or wrong, slow, fragmented)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from faults.catalogue import FaultKind
from faults.decide import FaultChoice
from faults.injection import error_body, error_headers, rewrite_body, split_frames
from faults.proxy.relay import Passed, reset_connection
from harness.api.tokenstorm_headers import PROXY_SERVER, SERVER_HEADER
from harness.api.wire_api import WireApi
from harness.contract.prompt_text import count_tokens

_MAX_BODY_BYTES = 64 * 1024 * 1024


async def say_proxy(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer names the proxy (over an upstream mock's own header), so a client knows
    the ``/tokenstorm/*`` routes exist."""
    response.headers[SERVER_HEADER] = PROXY_SERVER


def prompt_tokens_of(body: dict[str, Any]) -> int:
    """The prompt tokens of a request body as the mock counts them (its whitespace words)."""
    total = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += count_tokens(content)
        elif isinstance(content, list):
            total += sum(
                count_tokens(part.get("text", "")) for part in content if isinstance(part, dict)
            )
    system = body.get("system")
    if isinstance(system, str):
        total += count_tokens(system)
    return total


def answer_error(
    request: web.Request, kind: FaultKind, api: WireApi, params: Mapping[str, float]
) -> web.Response:
    """The provider-shaped error a status fault answers with, instead of the upstream."""
    status = {FaultKind.QUOTA_429: 429, FaultKind.OVERLOADED_529: 529}.get(
        kind, int(kind.value.removeprefix("http_")) if kind.value.startswith("http_") else 500
    )
    headers = error_headers(kind, api, params)
    content_type = headers.pop("content-type")
    return web.Response(
        status=status, body=error_body(kind, api), headers=headers, content_type=content_type
    )


def _count(api: WireApi, document: dict[str, Any], passed: Passed) -> None:
    answer = api.decode_body(document)
    passed.model = answer.model
    if answer.usage is not None:
        api.read_usage(answer.usage, passed)
    passed.content_tokens = len(answer.text.split())
    passed.terminated = True


async def answer_body(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    headers: dict[str, str],
    api: WireApi,
    choice: FaultChoice | None,
    passed: Passed,
) -> web.StreamResponse:
    """Relay a whole upstream body, applying a body fault when there is one."""
    body = await upstream.content.read(_MAX_BODY_BYTES)
    kind = choice.kind if choice else None
    params = dict(choice.params) if choice else {}
    obj: Any = None
    if upstream.status < 300:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            obj = None
    if isinstance(obj, dict):
        _count(api, obj, passed)
        if kind in (FaultKind.DROP_USAGE, FaultKind.WRONG_USAGE, FaultKind.ERROR_EVENT):
            body = orjson.dumps(rewrite_body(kind, api, obj, params))
    if kind is FaultKind.SLOW_DRIP:
        await asyncio.sleep(params["itl_ms"] / 1000.0 * max(passed.content_tokens, 1))
    if kind is FaultKind.STALL:
        await asyncio.sleep(params["stall_s"])
        reset_connection(request)
        return web.Response(status=504)
    if kind is FaultKind.RESET:
        reset_connection(request)
        return web.Response(status=502)
    if kind is FaultKind.MALFORMED_CHUNK:
        body = body[: max(1, len(body) // 2)] + b"\x00}{"
    response = web.StreamResponse(status=upstream.status, headers=headers)
    response.content_length = len(body)
    if kind is FaultKind.CUT:
        # the full length is announced, half is sent, then the connection closes
        response.force_close()
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        return response
    await response.prepare(request)
    pieces = (
        split_frames(body, int(params["fragment_bytes"])) if kind is FaultKind.FRAGMENT else [body]
    )
    for index, piece in enumerate(pieces, 1):
        await response.write(piece)
        passed.delivered = index == len(pieces)
        if kind is FaultKind.FRAGMENT and not passed.delivered:
            await asyncio.sleep(0.001)
    await response.write_eof()
    return response
