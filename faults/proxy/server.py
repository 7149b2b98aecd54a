"""The fault proxy: client requests in, forwarded to one configured upstream with the fault
catalogue applied (by profile or by the ``x-tokenstorm-fault`` header), answers relayed back;
a ledger line per attempt, served at ``/tokenstorm/ledger`` like the mock's.

Never an open proxy: it forwards only to its upstream, whatever the request says. Client
credentials pass through untouched and are never logged or written.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import orjson
from aiohttp import web

from faults.catalogue import CATALOGUE, RESET_OUTCOME, FaultKind, Phase, abandoned_outcome
from faults.decide import (
    FAULT_HEADER,
    AttemptContext,
    FaultChoice,
    attempt_draw,
    attempt_number,
    choose,
    forced,
)
from faults.ledger_route import stream_ledger
from faults.profile import FaultProfile, ProfileError, profile_from_json
from faults.proxy.answer import answer_body, answer_error, prompt_tokens_of, say_proxy
from faults.proxy.relay import Passed, relay_stream, reset_connection
from harness.api.registry import api_for_path, wire_api
from harness.api.run_start import RUNS_ROUTE, read_run_start
from harness.contract.apis import OPENAI_CHAT
from harness.contract.ledger import Ledger
from harness.contract.outcomes import outcome_for_status
from harness.contract.records import LedgerEntry

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        FAULT_HEADER,
    }
)
_MAX_BODY_BYTES = 64 * 1024 * 1024
_RUN_CLOCKS = 1024


@dataclass
class ProxyState:
    upstream: str
    profile: FaultProfile
    ledger: Ledger
    rng: np.random.Generator
    seed: int
    started_s: float
    run_started_s: OrderedDict[str, float]


STATE_KEY: Final = web.AppKey("tokenstorm_proxy_state", ProxyState)
SESSION_KEY: Final = web.AppKey("tokenstorm_proxy_session", aiohttp.ClientSession)


def upstream_base(url: str) -> str:
    """The upstream origin (and path prefix) requests are appended to; a trailing /v1 is
    dropped because clients send /v1/... paths."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--upstream {url!r} must be an http:// or https:// URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('/v1')}"


def _run_clock_s(state: ProxyState, run_id: str | None, now_s: float) -> float:
    """Seconds since this run's first request (fault windows are on the run clock)."""
    if run_id is None:
        return now_s - state.started_s
    first = state.run_started_s.setdefault(run_id, now_s)
    state.run_started_s.move_to_end(run_id)
    while len(state.run_started_s) > _RUN_CLOCKS:
        state.run_started_s.popitem(last=False)
    return now_s - first


async def proxy_request(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    received_s = time.monotonic()
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
        body = body if isinstance(body, dict) else {}
    except orjson.JSONDecodeError:
        body = {}
    api = api_for_path(request.path) or OPENAI_CHAT
    model = str(body.get("model", ""))
    stream = bool(body.get("stream", False))
    attempt = attempt_number(request.headers)
    try:
        choice = forced(request.headers.get(FAULT_HEADER), attempt)
    except ValueError as exc:
        return web.json_response(
            {
                "error": {
                    "message": str(exc),
                    "type": "invalid_request_error",
                    "param": FAULT_HEADER,
                    "code": None,
                }
            },
            status=400,
        )
    if choice is None and request.method == "POST":
        context = AttemptContext(
            _run_clock_s(state, request.headers.get("x-tokenstorm-run-id"), received_s),
            upstream_host(state),
            model,
            api,
            stream,
            attempt,
        )
        request_id = request.headers.get("x-tokenstorm-request-id")
        u = (
            attempt_draw(state.seed, request_id, attempt)
            if request_id is not None
            else float(state.rng.random())
        )  # no id: reproducible only when sent in sequence
        choice = choose(state.profile, context, u)
    passed = Passed(prompt_tokens=None)
    status, outcome = 200, "ok"
    try:
        response, status, outcome = await _dispatch(request, raw, api, stream, choice, passed)
        return response
    except asyncio.CancelledError:
        # A client that leaves after the stream's terminator or the body's last byte got a
        # whole answer.
        kind = choice.kind if choice else None
        if stream and passed.terminated:
            outcome = _streamed_outcome(kind, passed)
        elif passed.delivered:
            outcome = CATALOGUE[kind].outcome_body if kind is not None else "ok"
        else:
            outcome = abandoned_outcome(kind, stream)
        raise
    finally:
        if request.method == "POST":
            _record(
                state,
                request,
                received_s,
                model,
                api,
                stream,
                body,
                choice,
                passed,
                status,
                outcome,
            )


def upstream_host(state: ProxyState) -> str:
    return urlsplit(state.upstream).netloc


async def _dispatch(
    request: web.Request,
    raw: bytes,
    api: str,
    stream: bool,
    choice: FaultChoice | None,
    passed: Passed,
) -> tuple[web.StreamResponse, int, str]:
    kind = choice.kind if choice else None
    params = dict(choice.params) if choice else {}
    wire = wire_api(api)
    if kind is not None and CATALOGUE[kind].status is not None:
        return (
            answer_error(request, kind, wire, params),
            CATALOGUE[kind].status or 500,
            CATALOGUE[kind].outcome_body,
        )
    if kind is FaultKind.DOWN:
        reset_connection(request)
        return web.Response(status=502), 0, RESET_OUTCOME
    if kind is FaultKind.HANG:
        await asyncio.sleep(params["hang_s"])
        reset_connection(request)
        return web.Response(status=504), 0, "timeout_first_token"
    if kind is FaultKind.DELAY:
        await asyncio.sleep(params["delay_ms"] / 1000.0)
    session = request.app[SESSION_KEY]
    state = request.app[STATE_KEY]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    url = state.upstream + request.path_qs
    try:
        upstream = await session.request(request.method, url, data=raw, headers=headers)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        message = f"upstream unreachable: {type(exc).__name__}"
        return (
            web.json_response(
                {
                    "error": {
                        "message": message,
                        "type": "server_error",
                        "param": None,
                        "code": "upstream_unreachable",
                    }
                },
                status=502,
            ),
            502,
            "connect_error",
        )
    async with upstream:
        reply_headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"
        }
        if kind is not None and CATALOGUE[kind].phase is Phase.STREAM:
            reply_headers["x-tokenstorm-fault"] = kind.value
        is_sse = upstream.headers.get("Content-Type", "").startswith("text/event-stream")
        if upstream.status >= 300 or not is_sse:
            response = await answer_body(request, upstream, reply_headers, wire, choice, passed)
            outcome = outcome_for_status(upstream.status).value
            if upstream.status < 300 and kind is not None:
                outcome = CATALOGUE[kind].outcome_body
            return response, upstream.status, outcome
        response = web.StreamResponse(status=upstream.status, headers=reply_headers)
        await response.prepare(request)
        try:
            await relay_stream(request, upstream, response, wire, choice, passed)
        except (ConnectionError, aiohttp.ClientConnectionError):
            passed.disconnected = True
        left = passed.disconnected and not passed.terminated
        outcome = abandoned_outcome(kind, stream) if left else _streamed_outcome(kind, passed)
        return response, upstream.status, outcome


def _streamed_outcome(kind: FaultKind | None, passed: Passed) -> str:
    """The outcome of a stream relayed to its end (or its fault's end)."""
    if kind is not None:
        return CATALOGUE[kind].outcome_stream
    return "ok" if passed.terminated else "stream_cut"


def _record(
    state: ProxyState,
    request: web.Request,
    received_s: float,
    model: str,
    api: str,
    stream: bool,
    body: dict[str, Any],
    choice: FaultChoice | None,
    passed: Passed,
    status: int,
    outcome: str,
) -> None:
    attempt = attempt_number(request.headers)
    state.ledger.append(
        LedgerEntry(
            run_id=request.headers.get("x-tokenstorm-run-id"),
            request_id=request.headers.get("x-tokenstorm-request-id"),
            attempt=attempt,
            received_s=received_s - state.started_s,
            deployment=upstream_host(state),
            model=passed.model or model,
            api=api,
            stream=stream,
            prompt_tokens=passed.prompt_tokens
            if passed.prompt_tokens is not None
            else prompt_tokens_of(body),
            cached_tokens=passed.cached_tokens or 0,
            cache_write_tokens=passed.cache_write_tokens or 0,
            completion_tokens=max(passed.content_tokens, passed.completion_tokens or 0)
            if outcome == "ok"
            else passed.content_tokens,
            fault=choice.kind.value if choice else None,
            outcome=outcome,
            status_code=status,
            service_ms=(time.monotonic() - received_s) * 1000.0,
        )
    )


async def _ledger(request: web.Request) -> web.StreamResponse:
    ledger = request.app[STATE_KEY].ledger
    return await stream_ledger(request, ledger.pieces(request.query.get("run_id")))


async def _start_run(request: web.Request) -> web.Response:
    """A run's own start (``POST /tokenstorm/runs``): its windows go by its clock."""
    received_s = time.monotonic()
    try:
        run_id, run_clock_s = read_run_start(await request.read())
    except ValueError as exc:
        return web.json_response({"error": {"message": str(exc)}}, status=400)
    clocks = request.app[STATE_KEY].run_started_s  # trimmed by the next request's clock
    clocks[run_id] = received_s - run_clock_s
    clocks.move_to_end(run_id)
    return web.json_response({"run_id": run_id, "run_clock_s": run_clock_s})


async def _clear_ledger(request: web.Request) -> web.Response:
    return web.json_response({"deleted": request.app[STATE_KEY].ledger.clear()})


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].profile.model_dump(mode="json"))


async def _put_faults(request: web.Request) -> web.Response:
    """Swap the active profile: ``{"profile": "brownout"}`` or a profile object."""
    state = request.app[STATE_KEY]
    try:
        state.profile = profile_from_json(await request.read())
    except ProfileError as exc:
        return web.json_response({"error": {"message": str(exc)}}, status=400)
    return web.json_response(state.profile.model_dump(mode="json"))


def build_app(
    upstream: str,
    profile: FaultProfile,
    *,
    seed: int = 0,
    ledger_path: Path | None = None,
    connect_timeout_s: float = 10.0,
    read_timeout_s: float = 600.0,
) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY_BYTES)
    app.on_response_prepare.append(say_proxy)
    app[STATE_KEY] = ProxyState(
        upstream_base(upstream),
        profile,
        Ledger(ledger_path),
        np.random.default_rng(seed),
        seed,
        time.monotonic(),
        OrderedDict(),
    )

    async def session_context(app: web.Application) -> Any:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_read=read_timeout_s
        )
        app[SESSION_KEY] = aiohttp.ClientSession(
            timeout=timeout, auto_decompress=False, connector=aiohttp.TCPConnector(limit=0)
        )
        yield
        await app[SESSION_KEY].close()
        app[STATE_KEY].ledger.close()

    app.cleanup_ctx.append(session_context)
    app.router.add_get("/tokenstorm/ledger", _ledger)
    app.router.add_delete("/tokenstorm/ledger", _clear_ledger)
    app.router.add_get("/tokenstorm/faults", _get_faults)
    app.router.add_put("/tokenstorm/faults", _put_faults)
    app.router.add_post(RUNS_ROUTE, _start_run)
    app.router.add_route("*", "/{tail:.*}", proxy_request)
    return app


async def serve(
    app: web.Application, host: str, port: int, ready: Callable[[str], None] | None = None
) -> None:
    """Serve until cancelled; ``ready`` gets ``http://host:port`` once listening."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=4096).start()
        bound = int(runner.addresses[0][1])
        if ready is not None:
            ready(f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
