"""The answer routes of the mock (chat completions, text completions, messages): a request and
its wire API in; an answer, a provider error or the fault the catalogue puts on the attempt
out, with one ledger line and the deployment's metrics per attempt."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from typing import Final

from aiohttp import web

from faults.decide import FaultChoice
from harness.api.errors import ErrorKind, RequestError
from harness.api.rendering import Reply
from harness.api.requests import ParsedRequest
from harness.api.tokenstorm_headers import DEPLOYMENT_HEADER, FAULT_HEADER
from harness.api.wire_api import WireApi
from harness.contract.outcomes import Outcome, outcome_for_status
from mock_models.chaos.actions import apply_before, fault_outcome
from mock_models.chaos.tamper import Tamper
from mock_models.http.answer_service import AnswerService
from mock_models.http.constant_stream import constant_stream_answer
from mock_models.http.draft import AttemptDraft, api_key
from mock_models.http.engine_answer import engine_answer
from mock_models.http.responder import body_answer, error_response, read_json_body
from mock_models.sim.attempt import AttemptPlan, plan_attempt
from mock_models.sim.progress import Progress

# Prompts of agent loops can be megabytes of text; aiohttp's default limit is 1 MiB.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024


class AnswerRoute:
    """Answers one attempt of a generating API, whichever of them the request came in on."""

    def __init__(self, service: AnswerService, epoch_s: float) -> None:
        self._service = service
        self._epoch_s = epoch_s

    async def answer(self, request: web.Request, api: WireApi) -> web.StreamResponse:
        received = started = time.monotonic()
        draft = AttemptDraft(request.headers, received - self._epoch_s)
        progress = Progress()
        transport = request.transport
        try:
            response = await self._attempt(request, api, draft, progress, started)
            if progress.disconnected:
                self._service.abandoned(draft, transport)
            return response
        except asyncio.CancelledError:
            self._service.abandoned(draft, transport)
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

    def _record(
        self, api: WireApi, draft: AttemptDraft, progress: Progress, received: float
    ) -> None:
        """The attempt's ledger line and metrics, once its generation is over."""
        service_s = time.monotonic() - received
        self._service.ledger.append(draft.entry(api.name, progress, service_s * 1000.0))
        metrics = self._service.metrics.get(draft.deployment)
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
        service = self._service
        headers: dict[str, str] = {}
        try:
            parsed = await self._admit(request, api, draft)
            digest = self._identify(api, draft, headers)
            deployment = service.settings.deployment_for(
                parsed.model, service.listeners.owner(request)
            )
            if deployment is None:
                raise RequestError(
                    404,
                    ErrorKind.NOT_FOUND,
                    f"The model `{parsed.model}` does not exist or you do not have access to it.",
                    "model",
                )
        except RequestError as exc:
            if api.id_header not in headers:
                self._identify(api, draft, headers)
            return self._refuse(
                api, draft, progress, headers, exc.status, exc.kind, exc.message, exc.param
            )
        draft.deployment = headers[DEPLOYMENT_HEADER] = deployment.name
        service.opened(draft, api.name)
        limiter = service.limiters.get(deployment.name)
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
        elapsed_s = service.faults.run_clock_s(draft.run_id, started)
        plan = plan_attempt(deployment, parsed, digest, elapsed_s)
        attempt = draft.rule_attempt
        choice = service.faults.forced(request.headers, attempt) or service.faults.drawn(
            draft.run_id,
            attempt,
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

    async def _admit(
        self, request: web.Request, api: WireApi, draft: AttemptDraft
    ) -> ParsedRequest:
        """The request parsed and named (headers, else its prompt tag); ``RequestError`` for
        a wrong key, a malformed forcing header or a bad body, in that order."""
        keys = self._service.settings.api_keys
        if keys and api_key(request.headers) not in keys:
            raise RequestError(
                401,
                ErrorKind.AUTHENTICATION,
                "Incorrect API key provided. You can find your API key in your account settings.",
            )
        try:
            self._service.faults.check_forced(request.headers)
        except ValueError as exc:
            raise RequestError(400, ErrorKind.INVALID_REQUEST, str(exc), FAULT_HEADER) from None
        parsed = api.parse(await read_json_body(request, MAX_BODY_BYTES))
        draft.model, draft.stream = parsed.model, parsed.stream
        draft.prompt_tokens = parsed.prompt_tokens
        draft.adopt_prompt_tag(parsed.prompt_pieces)
        return parsed

    def _identify(self, api: WireApi, draft: AttemptDraft, headers: dict[str, str]) -> int:
        """The attempt's digest (counting it for its request), named in the answer's id."""
        digest = self._service.identify(draft, time.monotonic())
        headers[api.id_header] = f"req_tokenstorm{digest:016x}"
        return digest

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
        engine = self._service.engines.get(deployment)
        if engine is not None:
            response = await engine_answer(
                request, api, reply, plan, headers, progress, engine, parsed, tamper
            )
            if progress.status not in (200, 0):
                draft.outcome = outcome_for_status(progress.status)
        elif parsed.stream:
            response = await constant_stream_answer(
                request, api, reply, plan, headers, started, progress, self._service.ticker, tamper
            )
            self._service.metrics[deployment].itl.observe_all(
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
