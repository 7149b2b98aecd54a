"""The mock model server's HTTP layer: ``MockSettings`` in, an aiohttp application out
(OpenAI chat and text completions, embeddings, Anthropic messages, models, health and
ledger routes), with one ledger line per attempt; ``serve`` runs it on a socket until cancelled."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from faults.catalogue import FaultKind
from faults.ledger_route import stream_ledger
from harness.api.registry import wire_api
from harness.api.tokenstorm_headers import MOCK_SERVER, SERVER_HEADER
from harness.contract.apis import ANTHROPIC_MESSAGES, OPENAI_CHAT, OPENAI_COMPLETIONS
from harness.contract.ledger import Ledger
from harness.contract.outcomes import Outcome
from mock_models.chaos.actions import abandoned_outcome
from mock_models.chaos.book import FaultBook
from mock_models.http.admin import add_admin_routes
from mock_models.http.answer_route import MAX_BODY_BYTES, AnswerRoute
from mock_models.http.draft import AttemptDraft
from mock_models.http.embeddings_route import EmbeddingsRoute
from mock_models.http.listeners import DeploymentListeners, asked_about, listener_routes
from mock_models.settings import ANY_MODEL, MockSettings
from mock_models.sim.attempt import RepeatCounter, attempt_digest
from mock_models.sim.clock import MonotonicClock
from mock_models.sim.engine import DeploymentEngine
from mock_models.sim.metrics import DeploymentMetrics, render
from mock_models.sim.rate_limits import RateLimiter
from mock_models.sim.ticker import Ticker


class MockService:
    """The handlers of one mock server and the state they share (ledger, repeat counts)."""

    def __init__(
        self, settings: MockSettings, ledger: Ledger, epoch_s: float | None = None
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        #: Told of every attempt admitted to a deployment (a fleet worker's journal of open
        #: attempts, so its parent can record them should it die); None: nobody listens.
        self.journal: Callable[[AttemptDraft, str], None] | None = None
        #: A run's start, shared: (run id, now) of its first request here in, the instant
        #: its clock started out (a fleet's, from whichever worker saw it first); None: here.
        self.run_start: Callable[[str, float], float] | None = None
        self._seed = settings.seed or 0
        # A fleet's workers share their parent's start (``time.monotonic`` is system-wide).
        self._epoch = time.monotonic() if epoch_s is None else epoch_s
        #: Arrivals so far of each named request, per run: the mock's own attempt numbers.
        self._attempts = RepeatCounter()
        self._anonymous = itertools.count()
        self._openai = wire_api(OPENAI_CHAT)
        self._anthropic = wire_api(ANTHROPIC_MESSAGES)
        self._completions = wire_api(OPENAI_COMPLETIONS)
        self.metrics = {d.name: DeploymentMetrics() for d in settings.deployments}
        # This process's own figures (resident memory, CPU, open files) on /metrics, from
        # prometheus-client's process collector (Linux /proc): a soak's leak verdict reads them.
        self._process_metrics = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process_metrics)
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
        self._route = AnswerRoute(self, self._epoch)
        self._embeddings = EmbeddingsRoute(self, self._epoch, MAX_BODY_BYTES)
        self.limiters = {
            d.name: RateLimiter(d.rate_limits) for d in settings.deployments if d.rate_limits
        }

    def reset(self) -> dict[str, int]:
        """Forget the ledger, the prefix caches, the metrics, the runs' clocks and attempt
        counts; say how much was dropped."""
        self._attempts = RepeatCounter()
        runs = self.faults.forget_runs()
        cached_blocks = 0
        for name, engine in self.engines.items():
            cached_blocks += len(engine.prefix_cache)
            engine.prefix_cache.clear()
            engine.metrics = DeploymentMetrics()
            self.metrics[name] = engine.metrics
        for name in self.metrics:
            if name not in self.engines:
                self.metrics[name] = DeploymentMetrics()
        return {
            "ledger_entries": self.ledger.clear(),
            "prefix_cache_blocks": cached_blocks,
            "runs": runs,
        }

    async def close(self) -> None:
        """Stop the engine loops and close the ledger."""
        await self.listeners.close()
        for engine in self.engines.values():
            await engine.close()
        self.ticker.close()
        self.ledger.close()

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._route.answer(request, self._openai)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._route.answer(request, self._anthropic)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._route.answer(request, self._completions)

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
        """vLLM-named metrics of every deployment, then the process's (``process_*``)."""
        models = {
            d.name: "mock" if d.model == ANY_MODEL else d.model for d in self.settings.deployments
        }
        gauges = {name: (engine.running, engine.waiting) for name, engine in self.engines.items()}
        return web.Response(
            body=render(models, self.metrics, gauges) + generate_latest(self._process_metrics),
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

    async def get_ledger(self, request: web.Request) -> web.StreamResponse:
        """The ledger (``?run_id=``: one run's), streamed a bounded piece at a time."""
        return await stream_ledger(request, self.ledger.pieces(request.query.get("run_id")))

    async def delete_ledger(self, request: web.Request) -> web.Response:
        return _json_response({"deleted": self.ledger.clear()})

    def identify(self, draft: AttemptDraft, now_s: float) -> int:
        """The attempt's seed (``attempt.attempt_digest``) from (seed, request id, attempt),
        whatever path it came by; its run's clock starts with the run's first arrival.

        A named request (headers or prompt tag) numbers its attempts by the mock's own count
        of its arrivals in its run (``draft.counted_attempt``), over what headers say:
        LiteLLM's SDK says ``x-stainless-retry-count: 0`` on every retry, and a gateway
        retrying upstream repeats the client's ``x-tokenstorm-attempt``. Headers win only
        when they say more: a worker of a fleet counts only the arrivals it serves. An
        arrival without a request id takes the next of the server's own keys (arrival order).
        """
        run_id = draft.run_id
        if run_id is not None and self.run_start is not None and not self.faults.knows_run(run_id):
            self.faults.start_run(run_id, self.run_start(run_id, now_s))
        self.faults.run_clock_s(run_id, now_s)
        if draft.request_id is None:
            key = f"#{next(self._anonymous)}"
            return attempt_digest(self._seed, key, draft.attempt or 0, 0)
        counted = self._attempts.next(f"{draft.run_id or ''}\x1f{draft.request_id}", now_s) + 1
        counted = max(counted, draft.said_attempt or 0)
        draft.counted_attempt = counted
        return attempt_digest(self._seed, draft.request_id, counted, 0)

    def opened(self, draft: AttemptDraft, api: str) -> None:
        if self.journal is not None:
            self.journal(draft, api)

    def abandoned(self, draft: AttemptDraft, transport: asyncio.BaseTransport | None) -> None:
        """The outcome of an attempt whose connection went away: a reset when a ``down``
        window cut it (the client sees the same), else what the client's leaving means."""
        if self.listeners.dropped(transport):
            draft.fault, draft.outcome = FaultKind.DOWN.value, Outcome.RESET
        else:
            draft.outcome = abandoned_outcome(draft.fault, draft.outcome)


def _json_response(document: object) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type="application/json")


async def _say_mock(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer names its server, so a client knows the ``/tokenstorm/*`` routes exist."""
    response.headers[SERVER_HEADER] = MOCK_SERVER


#: Where ``build_app`` keeps the service, for in-process callers that want its ledger.
SERVICE_KEY: Final = web.AppKey("tokenstorm_mock_service", MockService)


def build_app(
    settings: MockSettings, *, ledger_path: Path | None = None, epoch_s: float | None = None
) -> web.Application:
    """The mock as an aiohttp application (run it with ``serve`` or an ``AppRunner``);
    ``epoch_s``, a ``time.monotonic`` reading, is when it started (default: now)."""
    service = MockService(settings, Ledger(ledger_path), epoch_s)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service
    app.on_response_prepare.append(_say_mock)
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
