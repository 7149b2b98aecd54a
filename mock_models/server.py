"""The mock model server's HTTP layer: ``MockSettings`` in, an aiohttp application out
(OpenAI chat and text completions, embeddings, Anthropic messages, models, health and
ledger routes), with one ledger line per attempt; ``serve`` runs it on a socket until cancelled."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import orjson
from aiohttp import web

from faults.catalogue import FaultKind
from faults.decide import FaultChoice
from harness.api.errors import ErrorKind, RequestError
from harness.api.registry import wire_api
from harness.api.rendering import Reply
from harness.api.requests import ParsedRequest
from harness.api.wire_api import WireApi
from harness.contract.apis import ANTHROPIC_MESSAGES, OPENAI_CHAT, OPENAI_COMPLETIONS
from harness.contract.ledger import Ledger
from harness.contract.outcomes import Outcome, outcome_for_status
from mock_models.admin import add_admin_routes
from mock_models.attempt import AttemptPlan, RepeatCounter, attempt_digest, plan_attempt
from mock_models.chaos import FaultBook
from mock_models.clock import MonotonicClock
from mock_models.constant_stream import constant_stream_answer
from mock_models.draft import DEPLOYMENT_HEADER, FAULT_HEADER, AttemptDraft, api_key
from mock_models.embeddings_route import EmbeddingsRoute
from mock_models.engine import DeploymentEngine
from mock_models.engine_answer import engine_answer
from mock_models.fault_actions import abandoned_outcome, apply_before, fault_outcome
from mock_models.listeners import DeploymentListeners, asked_about, listener_routes
from mock_models.metrics import DeploymentMetrics, render
from mock_models.rate_limits import RateLimiter
from mock_models.responder import (
    Progress,
    body_answer,
    error_response,
    read_json_body,
)
from mock_models.settings import ANY_MODEL, MockSettings
from mock_models.tamper import Tamper
from mock_models.ticker import Ticker

# Prompts of agent loops can be megabytes of text; aiohttp's default limit is 1 MiB.
_MAX_BODY_BYTES: Final = 64 * 1024 * 1024


class MockService:
    """The handlers of one mock server and the state they share (ledger, repeat counts)."""

    def __init__(self, settings: MockSettings, ledger: Ledger) -> None:
        self.settings = settings
        self.ledger = ledger
        self._seed = settings.seed or 0
        self._epoch = time.monotonic()
        self._repeats = RepeatCounter()
        self._anonymous = itertools.count()
        self._openai = wire_api(OPENAI_CHAT)
        self._anthropic = wire_api(ANTHROPIC_MESSAGES)
        self._completions = wire_api(OPENAI_COMPLETIONS)
        self.metrics = {d.name: DeploymentMetrics() for d in settings.deployments}
        # The real clock, on which ``started`` and the answers' other times are read too.
        clock = MonotonicClock()
        self.engines = {
            d.name: DeploymentEngine(
                d.engine,
                d.jitter,
                attempt_digest(self._seed, d.name, 0, 0),
                self.metrics[d.name],
                clock=clock,
            )
            for d in settings.deployments
            if d.engine is not None
        }
        self.ticker = Ticker(clock)
        self.faults = FaultBook(settings.faults, self._epoch)
        self.listeners = DeploymentListeners(settings, self.faults)
        self._embeddings = EmbeddingsRoute(self, self._epoch, _MAX_BODY_BYTES)
        self.limiters = {
            d.name: RateLimiter(d.rate_limits) for d in settings.deployments if d.rate_limits
        }

    def reset(self) -> dict[str, int]:
        """Forget the ledger, the prefix caches and the metrics; say how much was dropped."""
        cached_blocks = 0
        for name, engine in self.engines.items():
            cached_blocks += len(engine.prefix_cache)
            engine.prefix_cache.clear()
            engine.metrics = DeploymentMetrics()
            self.metrics[name] = engine.metrics
        for name in self.metrics:
            if name not in self.engines:
                self.metrics[name] = DeploymentMetrics()
        return {"ledger_entries": self.ledger.clear(), "prefix_cache_blocks": cached_blocks}

    async def close(self) -> None:
        """Stop the engine loops and close the ledger."""
        await self.listeners.close()
        for engine in self.engines.values():
            await engine.close()
        self.ticker.close()
        self.ledger.close()

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._openai)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._anthropic)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, self._completions)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._embeddings(request)

    async def models(self, request: web.Request) -> web.Response:
        names = ["mock" if d.model == ANY_MODEL else d.model for d in self.settings.deployments]
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "tokenstorm"}
            for name in names
        ]
        return _json_response({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ok"})

    async def prometheus(self, request: web.Request) -> web.Response:
        """vLLM-named metrics of every deployment."""
        models = {
            d.name: "mock" if d.model == ANY_MODEL else d.model for d in self.settings.deployments
        }
        gauges = {name: (engine.running, engine.waiting) for name, engine in self.engines.items()}
        return web.Response(
            body=render(models, self.metrics, gauges),
            content_type="text/plain",
            charset="utf-8",
            headers={"x-content-type-options": "nosniff"},
        )

    async def ready(self, request: web.Request) -> web.Response:
        """503 until ``startup_s`` after start (a model still loading), then 200; 503 while a
        ``down`` window or the down half-period of a ``flap`` fault holds the deployment asked
        about (``?deployment=``, ``?model=`` or its own listener; else the whole server)."""
        now = time.monotonic()
        asked = asked_about(request, self.settings, self.listeners)
        state = (
            "loading"
            if now - self._epoch < self.settings.startup_s
            else self.faults.readiness(now, *((asked.name, asked.model) if asked else ()))
        )
        return web.Response(
            status=200 if state == "ready" else 503,
            body=orjson.dumps({"status": state}),
            content_type="application/json",
        )

    async def get_ledger(self, request: web.Request) -> web.Response:
        body = self.ledger.to_jsonl(request.query.get("run_id"))
        return web.Response(body=body, content_type="application/x-ndjson")

    async def delete_ledger(self, request: web.Request) -> web.Response:
        return _json_response({"deleted": self.ledger.clear()})

    async def _answer(self, request: web.Request, api: WireApi) -> web.StreamResponse:
        received = started = time.monotonic()
        draft = AttemptDraft(request.headers, received - self._epoch)
        progress = Progress()
        transport = request.transport
        try:
            response = await self._attempt(request, api, draft, progress, started)
            if progress.disconnected:
                self.abandoned(draft, transport)
            return response
        except asyncio.CancelledError:
            self.abandoned(draft, transport)
            raise
        except Exception:
            draft.failed_by_a_bug(progress)
            raise
        finally:
            if progress.settled is None:
                self._record(api, draft, progress, received)
            else:
                progress.settled.add_done_callback(
                    lambda _: self._record(api, draft, progress, received)
                )

    def digest(self, draft: AttemptDraft) -> int:
        """The attempt's seed (``attempt.attempt_digest``); an arrival without a request id
        takes the next of the server's own keys."""
        key = draft.request_id or f"#{next(self._anonymous)}"
        attempt = draft.attempt or 0
        return attempt_digest(self._seed, key, attempt, self._repeats.next(f"{key}\x1f{attempt}"))

    def abandoned(self, draft: AttemptDraft, transport: asyncio.BaseTransport | None) -> None:
        """The outcome of an attempt whose connection went away: a reset when a ``down``
        window cut it (the client sees the same), else what the client's leaving means."""
        if self.listeners.dropped(transport):
            draft.fault, draft.outcome = FaultKind.DOWN.value, Outcome.RESET
        else:
            draft.outcome = abandoned_outcome(draft.fault, draft.outcome)

    def _record(
        self, api: WireApi, draft: AttemptDraft, progress: Progress, received: float
    ) -> None:
        """The attempt's ledger line and metrics, once its generation is over."""
        service_s = time.monotonic() - received
        self.ledger.append(draft.entry(api.name, progress, service_s * 1000.0))
        metrics = self.metrics.get(draft.deployment)
        if metrics is not None:
            if progress.first_token_s is not None:
                metrics.ttft.observe(progress.first_token_s - received)
            metrics.lag.observe(progress.lag_s)
            metrics.answered(
                draft.prompt_tokens,
                progress.cached_tokens,
                progress.tokens,
                service_s,
                str(draft.outcome),
            )

    async def _attempt(
        self,
        request: web.Request,
        api: WireApi,
        draft: AttemptDraft,
        progress: Progress,
        started: float,
    ) -> web.StreamResponse:
        digest = self.digest(draft)
        headers = {api.id_header: f"req_tokenstorm{digest:016x}"}
        if self.settings.api_keys and api_key(request.headers) not in self.settings.api_keys:
            return self._refuse(
                api,
                draft,
                progress,
                headers,
                401,
                ErrorKind.AUTHENTICATION,
                "Incorrect API key provided. You can find your API key in your account settings.",
            )
        try:
            forced = self.faults.forced(request.headers)
        except ValueError as exc:
            return self._refuse(
                api,
                draft,
                progress,
                headers,
                400,
                ErrorKind.INVALID_REQUEST,
                str(exc),
                FAULT_HEADER,
            )
        try:
            parsed = api.parse(await read_json_body(request, _MAX_BODY_BYTES))
            draft.model, draft.stream = parsed.model, parsed.stream
            draft.prompt_tokens = parsed.prompt_tokens
            draft.adopt_prompt_tag(parsed.prompt_pieces)
            deployment = self.settings.deployment_for(parsed.model, self.listeners.owner(request))
            if deployment is None:
                raise RequestError(
                    404,
                    ErrorKind.NOT_FOUND,
                    f"The model `{parsed.model}` does not exist or you do not have access to it.",
                    "model",
                )
        except RequestError as exc:
            return self._refuse(
                api, draft, progress, headers, exc.status, exc.kind, exc.message, exc.param
            )
        draft.deployment = headers[DEPLOYMENT_HEADER] = deployment.name
        limiter = self.limiters.get(deployment.name)
        if limiter is not None:
            tokens = parsed.prompt_tokens + (parsed.max_tokens or deployment.output_tokens)
            verdict = limiter.check(api_key(request.headers), tokens, time.monotonic(), time.time())
            headers.update(verdict.headers)
            if not verdict.allowed:
                return self._refuse(
                    api,
                    draft,
                    progress,
                    headers,
                    429,
                    ErrorKind.RATE_LIMIT,
                    f"Rate limit reached for {deployment.model}. Please try "
                    f"again in {verdict.retry_after_s:.3g}s.",
                )
        plan = plan_attempt(deployment, parsed, digest)
        choice = forced or self.faults.drawn(
            request.headers,
            deployment.name,
            parsed.model,
            api.name,
            parsed.stream,
            time.monotonic(),
            plan.fault_u,
        )
        if choice is not None:
            return await self._fault(
                request, api, draft, progress, headers, choice, plan, parsed, deployment.name
            )
        response = await self._generate(
            request, api, draft, progress, headers, plan, parsed, deployment.name, started, None
        )
        if progress.status == 200:
            draft.outcome = Outcome.OK
        return response

    async def _fault(
        self,
        request: web.Request,
        api: WireApi,
        draft: AttemptDraft,
        progress: Progress,
        headers: dict[str, str],
        choice: FaultChoice,
        plan: AttemptPlan,
        parsed: ParsedRequest,
        deployment: str,
    ) -> web.StreamResponse:
        """Answer an attempt a fault hits; the ledger gets the kind's outcome."""
        draft.fault = headers[FAULT_HEADER] = choice.kind.value
        draft.outcome = fault_outcome(choice.kind, parsed.stream)
        before = await apply_before(request, choice, api, headers, progress)
        if before is not None:
            return before
        tamper = Tamper.of(choice, api)
        if tamper is not None and tamper.drip_s:
            latency = dataclasses.replace(
                plan.latency, gaps_s=(tamper.drip_s,) * len(plan.latency.gaps_s)
            )
            plan = dataclasses.replace(plan, latency=latency)
        return await self._generate(
            request,
            api,
            draft,
            progress,
            headers,
            plan,
            parsed,
            deployment,
            time.monotonic(),
            tamper,
        )

    async def _generate(
        self,
        request: web.Request,
        api: WireApi,
        draft: AttemptDraft,
        progress: Progress,
        headers: dict[str, str],
        plan: AttemptPlan,
        parsed: ParsedRequest,
        deployment: str,
        started: float,
        tamper: Tamper | None,
    ) -> web.StreamResponse:
        """The answer itself, through the deployment's engine or the constant model."""
        reply = Reply(
            response_id=api.response_id(plan.digest),
            model=parsed.model,
            prompt_tokens=parsed.prompt_tokens,
            created=int(time.time()),
            include_usage=parsed.include_usage,
            tool_name=plan.tool,
            stop_sequence=plan.stop_sequence,
        )
        engine = self.engines.get(deployment)
        if engine is not None:
            response = await engine_answer(
                request, api, reply, plan, headers, progress, engine, parsed, tamper
            )
            if progress.status not in (200, 0):
                draft.outcome = outcome_for_status(progress.status)
        elif parsed.stream:
            response = await constant_stream_answer(
                request, api, reply, plan, headers, started, progress, self.ticker, tamper
            )
            self.metrics[deployment].itl.observe_all(
                plan.latency.gaps_s[: max(0, progress.tokens - 1)]
            )
        else:
            response = await body_answer(
                request, api, reply, plan, headers, started, progress, tamper
            )
        return response

    def _refuse(
        self,
        api: WireApi,
        draft: AttemptDraft,
        progress: Progress,
        headers: Mapping[str, str],
        status: int,
        kind: ErrorKind,
        message: str,
        param: str | None = None,
    ) -> web.Response:
        progress.status = status
        draft.outcome = outcome_for_status(status)
        return error_response(api, status, kind, message, headers, param)


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
    app.router.add_post("/v1/completions", service.completions)
    app.router.add_post("/v1/embeddings", service.embeddings)
    app.router.add_get("/v1/models", service.models)
    app.router.add_get("/health", service.health)
    app.router.add_get("/ready", service.ready)
    app.router.add_get("/metrics", service.prometheus)
    app.router.add_get("/tokenstorm/ledger", service.get_ledger)
    app.router.add_delete("/tokenstorm/ledger", service.delete_ledger)
    add_admin_routes(app, service)
    listener_routes(app, service.listeners)

    async def close_service(_: web.Application) -> None:
        await service.close()

    app.on_cleanup.append(close_service)
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
    own_listeners: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """Serve the mock until cancelled; ``port=0`` picks a free port, given to ``ready``;
    ``own_listeners`` gets the URL of each deployment that has a listener of its own."""
    runner = web.AppRunner(
        build_app(settings, ledger_path=ledger_path),
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=4096)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        assert runner.server is not None
        listeners = runner.app[SERVICE_KEY].listeners
        await listeners.start(host, runner.server)
        if ready is not None:
            ready(base_url(host, bound_port))
        if own_listeners is not None and listeners.ports:
            own_listeners({name: base_url(host, bound) for name, bound in listeners.ports.items()})
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
