"""The mock model server's HTTP layer: ``MockSettings`` in, an aiohttp application out
(OpenAI chat completions, Anthropic messages, models, health and ledger routes), with one
ledger line per attempt; ``serve`` runs it on a socket until cancelled."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import orjson
from aiohttp import web

from harness.outcomes import Outcome, outcome_for_status
from harness.records import LedgerEntry
from mock_models.anthropic_api import AnthropicMessages
from mock_models.attempt import RepeatCounter, attempt_digest, plan_attempt
from mock_models.flavour import ErrorKind, Flavour, Reply, RequestError
from mock_models.ledger import Ledger
from mock_models.openai_api import OpenAIChat
from mock_models.responder import (
    CLIENT_CLOSED,
    Progress,
    body_answer,
    error_response,
    stream_answer,
)
from mock_models.settings import ANY_MODEL, MockSettings

RUN_ID_HEADER: Final = "x-tokenstorm-run-id"
REQUEST_ID_HEADER: Final = "x-tokenstorm-request-id"
ATTEMPT_HEADER: Final = "x-tokenstorm-attempt"
DEPLOYMENT_HEADER: Final = "x-tokenstorm-deployment"
FAULT_HEADER: Final = "x-tokenstorm-fault"

# Prompts of agent loops can be megabytes of text; aiohttp's default limit is 1 MiB.
_MAX_BODY_BYTES: Final = 64 * 1024 * 1024

_HTTP_FAULTS: Final[dict[str, tuple[int, ErrorKind, str]]] = {
    "http_429": (429, ErrorKind.RATE_LIMIT,
                 "Rate limit reached for requests (injected by tokenstorm mock)."),
    "http_500": (500, ErrorKind.SERVER_ERROR,
                 "The server had an error while processing your request (injected)."),
    "http_503": (503, ErrorKind.OVERLOADED,
                 "The server is overloaded or not ready yet (injected)."),
}


class _Draft:
    """The ledger line of one attempt, filled in as the attempt goes."""

    __slots__ = ("attempt", "deployment", "fault", "model", "outcome", "prompt_tokens",
                 "received_s", "request_id", "run_id", "stream")

    def __init__(self, headers: Mapping[str, str], received_s: float) -> None:
        self.run_id = headers.get(RUN_ID_HEADER)
        self.request_id = headers.get(REQUEST_ID_HEADER)
        raw_attempt = headers.get(ATTEMPT_HEADER)
        self.attempt = int(raw_attempt) if raw_attempt and raw_attempt.isdigit() else None
        self.received_s = received_s
        self.deployment = ""
        self.model = ""
        self.stream = False
        self.prompt_tokens = 0
        self.fault: str | None = None
        self.outcome: str = Outcome.OK

    def entry(self, api: str, progress: Progress, service_ms: float) -> LedgerEntry:
        return LedgerEntry(
            run_id=self.run_id, request_id=self.request_id, attempt=self.attempt,
            received_s=self.received_s, deployment=self.deployment, model=self.model, api=api,
            stream=self.stream, prompt_tokens=self.prompt_tokens, cached_tokens=0,
            completion_tokens=progress.tokens, fault=self.fault, outcome=str(self.outcome),
            status_code=progress.status, service_ms=service_ms,
        )


class MockService:
    """The handlers of one mock server and the state they share (ledger, repeat counts)."""

    def __init__(self, settings: MockSettings, ledger: Ledger) -> None:
        self.settings = settings
        self.ledger = ledger
        self._seed = settings.seed or 0
        self._epoch = time.monotonic()
        self._repeats = RepeatCounter()
        self._anonymous = itertools.count()
        self._openai = OpenAIChat()
        self._anthropic = AnthropicMessages()

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._openai)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._anthropic)

    async def models(self, request: web.Request) -> web.Response:
        names = ["mock" if d.model == ANY_MODEL else d.model for d in self.settings.deployments]
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "tokenstorm"}
                for name in names]
        return _json_response({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ok"})

    async def get_ledger(self, request: web.Request) -> web.Response:
        body = self.ledger.to_jsonl(request.query.get("run_id"))
        return web.Response(body=body, content_type="application/x-ndjson")

    async def delete_ledger(self, request: web.Request) -> web.Response:
        return _json_response({"deleted": self.ledger.clear()})

    async def _answer(self, request: web.Request, flavour: Flavour) -> web.StreamResponse:
        received = time.monotonic()
        started = asyncio.get_running_loop().time()
        draft = _Draft(request.headers, received - self._epoch)
        progress = Progress()
        try:
            response = await self._attempt(request, flavour, draft, progress, started)
            if progress.disconnected:
                draft.outcome = Outcome.CANCELLED
            return response
        except asyncio.CancelledError:
            draft.outcome = Outcome.CANCELLED
            raise
        except Exception:
            # A bug of ours: aiohttp answers 500 and logs it; the ledger must not say "ok".
            draft.outcome = Outcome.HTTP_5XX
            if progress.status == CLIENT_CLOSED:
                progress.status = 500
            raise
        finally:
            service_ms = (time.monotonic() - received) * 1000.0
            self.ledger.append(draft.entry(flavour.api, progress, service_ms))

    async def _attempt(self, request: web.Request, flavour: Flavour, draft: _Draft,
                       progress: Progress, started: float) -> web.StreamResponse:
        key = draft.request_id or f"#{next(self._anonymous)}"
        attempt = draft.attempt or 0
        digest = attempt_digest(self._seed, key, attempt, self._repeats.next(f"{key}\x1f{attempt}"))
        headers = {flavour.id_header: f"req_tokenstorm{digest:016x}"}
        try:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise RequestError(413, ErrorKind.INVALID_REQUEST,
                                   f"Request body exceeds {_MAX_BODY_BYTES} bytes.") from None
            parsed = flavour.parse(raw)
            draft.model, draft.stream = parsed.model, parsed.stream
            draft.prompt_tokens = parsed.prompt_tokens
            deployment = self.settings.deployment_for(parsed.model)
            if deployment is None:
                raise RequestError(404, ErrorKind.NOT_FOUND, f"The model `{parsed.model}` does "
                                   "not exist or you do not have access to it.", "model")
        except RequestError as exc:
            return self._refuse(flavour, draft, progress, headers, exc.status, exc.kind,
                                exc.message, exc.param)
        draft.deployment = headers[DEPLOYMENT_HEADER] = deployment.name
        faults = self.settings.faults
        plan = plan_attempt(deployment, faults, parsed, digest)
        if plan.fault is not None:
            draft.fault = headers[FAULT_HEADER] = plan.fault
        if plan.fault in _HTTP_FAULTS:
            status, kind, message = _HTTP_FAULTS[plan.fault]
            retry_after_s = faults.retry_after_s if status == 429 else None
            return self._refuse(flavour, draft, progress, headers, status, kind, message,
                                retry_after_s=retry_after_s)
        cut_after = faults.cut_after_tokens if plan.fault == "cut" else None
        reply = Reply(response_id=flavour.response_id(digest), model=parsed.model,
                      prompt_tokens=parsed.prompt_tokens, created=int(time.time()),
                      include_usage=parsed.include_usage)
        answer = stream_answer if parsed.stream else body_answer
        response = await answer(request, flavour, reply, plan, headers, started, progress,
                                cut_after)
        draft.outcome = Outcome.OK if cut_after is None else Outcome.STREAM_CUT
        return response

    def _refuse(self, flavour: Flavour, draft: _Draft, progress: Progress,
                headers: Mapping[str, str], status: int, kind: ErrorKind, message: str,
                param: str | None = None, retry_after_s: float | None = None) -> web.Response:
        progress.status = status
        draft.outcome = outcome_for_status(status)
        return error_response(flavour, status, kind, message, headers, param, retry_after_s)


def _json_response(document: object) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type="application/json")


#: Where ``build_app`` keeps the service, for in-process callers that want its ledger.
SERVICE_KEY: Final = web.AppKey("tokenstorm_mock_service", MockService)


def build_app(settings: MockSettings, *, ledger_path: Path | None = None) -> web.Application:
    """The mock as an aiohttp application (run it with ``serve`` or an ``AppRunner``)."""
    service = MockService(settings, Ledger(ledger_path))
    app = web.Application(client_max_size=_MAX_BODY_BYTES)
    app[SERVICE_KEY] = service
    app.router.add_post("/v1/chat/completions", service.chat_completions)
    app.router.add_post("/v1/messages", service.messages)
    app.router.add_get("/v1/models", service.models)
    app.router.add_get("/health", service.health)
    app.router.add_get("/tokenstorm/ledger", service.get_ledger)
    app.router.add_delete("/tokenstorm/ledger", service.delete_ledger)

    async def close_ledger(_: web.Application) -> None:
        service.ledger.close()

    app.on_cleanup.append(close_ledger)
    return app


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with IPv6 literals bracketed."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    settings: MockSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    ledger_path: Path | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the mock until cancelled; ``port=0`` picks a free port, given to ``ready``."""
    runner = web.AppRunner(build_app(settings, ledger_path=ledger_path), access_log=None,
                           handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=4096)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        if ready is not None:
            ready(base_url(host, bound_port))
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
