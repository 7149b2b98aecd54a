"""The mock's ``POST /v1/embeddings`` handler: a request in; the vectors (``embeddings``), a
provider error, or the fault the catalogue puts on this attempt out, with one ledger line.

Only the faults that act before the answer, on the connection or on readiness apply to
embeddings (``faults.catalogue.applies``): an error status, a delay, a hang, a reset. A header
forcing a stream fault here gets a 400 saying so.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from aiohttp import web

from faults.catalogue import applies
from faults.decide import FaultChoice
from harness.api.errors import ErrorKind, RequestError
from harness.api.registry import wire_api
from harness.api.tokenstorm_headers import DEPLOYMENT_HEADER, FAULT_HEADER
from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.outcomes import Outcome, outcome_for_status
from mock_models.chaos.actions import apply_before, fault_outcome
from mock_models.http.answer_service import AttemptService
from mock_models.http.draft import AttemptDraft, api_key
from mock_models.http.embedding_admission import check_rate_limit, encode
from mock_models.http.responder import error_response, read_json_body
from mock_models.sim.attempt import fault_draw
from mock_models.sim.embeddings import embeddings_body
from mock_models.sim.progress import Progress


class EmbeddingsRoute:
    """``POST /v1/embeddings`` of one mock server."""

    def __init__(self, service: AttemptService, epoch_s: float, max_body_bytes: int) -> None:
        self._service = service
        self._epoch_s = epoch_s
        self._max_body_bytes = max_body_bytes
        self._ids = itertools.count()
        self._api = wire_api(OPENAI_EMBEDDINGS)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """Vectors after the deployment's encoding time (``embedding_admission``); the
        ledger line bills the prompt tokens."""
        received = time.monotonic()
        draft = AttemptDraft(request.headers, received - self._epoch_s)
        progress = Progress()
        headers = {self._api.id_header: f"req_tokenstorm{next(self._ids):016x}"}
        transport = request.transport  # the request forgets it once the connection closes
        try:
            response = await self._answer(request, draft, progress, headers)
        except RequestError as exc:
            progress.status = exc.status
            draft.outcome = outcome_for_status(exc.status)
            response = error_response(
                self._api, exc.status, exc.kind, exc.message, headers, exc.param
            )
        except asyncio.CancelledError:
            self._service.abandoned(draft, transport)
            raise
        except Exception:
            draft.failed_by_a_bug(progress)
            raise
        finally:
            service_ms = (time.monotonic() - received) * 1000.0
            self._service.ledger.append(draft.entry(OPENAI_EMBEDDINGS, progress, service_ms))
        return response

    async def _answer(
        self, request: web.Request, draft: AttemptDraft, progress: Progress, headers: dict[str, str]
    ) -> web.StreamResponse:
        service = self._service
        settings = service.settings
        if settings.api_keys and api_key(request.headers) not in settings.api_keys:
            raise RequestError(401, ErrorKind.AUTHENTICATION, "Incorrect API key provided.")
        digest = service.identify(draft, time.monotonic())
        attempt = draft.rule_attempt
        try:
            forced = service.faults.forced(request.headers, attempt)
        except ValueError as exc:
            raise RequestError(400, ErrorKind.INVALID_REQUEST, str(exc), FAULT_HEADER) from None
        if forced is not None and not applies(forced.kind, OPENAI_EMBEDDINGS):
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                f"{FAULT_HEADER}: {forced.kind.value} acts inside a streamed "
                "or generated answer; /v1/embeddings takes only faults that "
                "act before the answer",
                FAULT_HEADER,
            )
        parsed = self._api.parse(await read_json_body(request, self._max_body_bytes))
        draft.adopt_prompt_tag(parsed.prompt_pieces)
        draft.model, draft.prompt_tokens = parsed.model, parsed.prompt_tokens
        deployment = settings.deployment_for(parsed.model, service.listeners.owner(request))
        if deployment is None:
            raise RequestError(
                404,
                ErrorKind.NOT_FOUND,
                f"The model `{parsed.model}` does not exist or you do not have access to it.",
                "model",
            )
        draft.deployment = headers[DEPLOYMENT_HEADER] = deployment.name
        service.opened(draft, OPENAI_EMBEDDINGS)
        check_rate_limit(
            service.limiters.get(deployment.name),
            api_key(request.headers),
            deployment.model,
            parsed.prompt_tokens,
            time.monotonic(),
            time.time(),
            headers,
        )
        choice = forced or service.faults.drawn(
            draft.run_id,
            attempt,
            deployment.name,
            parsed.model,
            OPENAI_EMBEDDINGS,
            False,
            time.monotonic(),
            fault_draw(digest),
        )
        if choice is not None:
            before = await self._fault(request, choice, draft, progress, headers)
            if before is not None:
                return before
        progress.lag_s = await encode(
            deployment, service.engines.get(deployment.name), parsed.prompt_tokens
        )
        body = embeddings_body(parsed, deployment.embedding_dimensions)
        progress.status = 200
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def _fault(
        self,
        request: web.Request,
        choice: FaultChoice,
        draft: AttemptDraft,
        progress: Progress,
        headers: dict[str, str],
    ) -> web.StreamResponse | None:
        draft.fault = headers[FAULT_HEADER] = choice.kind.value
        draft.outcome = fault_outcome(choice.kind, False)
        before = await apply_before(request, choice, self._api, headers, progress)
        if before is None:
            draft.outcome = Outcome.OK
        return before
