"""The mock's side of the fault catalogue: request headers, the attempt's deployment, model,
API and streaming flag in; the ``FaultChoice`` that hits it out (forced by the
``x-tokenstorm-fault`` header, else drawn from the active profile on the run clock), plus the
readiness a ``flap`` rule dictates and the ``/tokenstorm/faults`` routes that show and swap
the active profile while the server runs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import orjson
from aiohttp import web

from faults.catalogue import FaultKind
from faults.decide import (
    FAULT_HEADER,
    AttemptContext,
    FaultChoice,
    attempt_draw,
    attempt_number,
    choose,
    forced,
)
from faults.profile import FaultProfile, ProfileError, profile_from_json

_RUN_CLOCKS = 1024
_EMPTY = FaultProfile(name="none")


class FaultBook:
    """The active fault profile of one mock server and the run clocks its windows use."""

    __slots__ = ("_rng", "_run_started_s", "_seed", "_started_s", "profile")

    def __init__(self, profile: FaultProfile | None, seed: int, started_s: float) -> None:
        self.profile = profile if profile is not None else _EMPTY
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._started_s = started_s
        self._run_started_s: OrderedDict[str, float] = OrderedDict()

    def run_clock_s(self, run_id: str | None, now_s: float) -> float:
        """Seconds since this run's first request (since start without a run id)."""
        if run_id is None:
            return now_s - self._started_s
        first = self._run_started_s.setdefault(run_id, now_s)
        self._run_started_s.move_to_end(run_id)
        while len(self._run_started_s) > _RUN_CLOCKS:
            self._run_started_s.popitem(last=False)
        return now_s - first

    def forced(self, headers: Mapping[str, str]) -> FaultChoice | None:
        """The header's fault for this attempt; ``ValueError`` (for a 400) when malformed."""
        return forced(headers.get(FAULT_HEADER), attempt_number(headers))

    def drawn(self, headers: Mapping[str, str], deployment: str, model: str, api: str,
              stream: bool, now_s: float) -> FaultChoice | None:
        """The profile's fault for this attempt: reproducible per (seed, request id, attempt)
        when the request carries an id, else from the server's own sequence of draws."""
        if not self.profile.rule:
            return None
        attempt = attempt_number(headers)
        context = AttemptContext(self.run_clock_s(headers.get("x-tokenstorm-run-id"), now_s),
                                 deployment, model, api, stream, attempt)
        request_id = headers.get("x-tokenstorm-request-id")
        u = (attempt_draw(self._seed, request_id, attempt) if request_id is not None
             else float(self._rng.random()))
        return choose(self.profile, context, u)

    def ready(self, now_s: float) -> bool:
        """False in the down half of each period of an active ``flap`` rule."""
        t_s = now_s - self._started_s
        for rule in self.profile.rule:
            if rule.kind is not FaultKind.FLAP or rule.probability <= 0:
                continue
            if rule.window.weight(t_s) <= 0:
                continue
            half_s = max(rule.resolved_params()["period_s"] / 2.0, 1e-3)
            if int((t_s - rule.window.start) / half_s) % 2 == 1:
                return False
        return True


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document),
                        content_type="application/json")


def add_fault_routes(app: web.Application, book: FaultBook) -> None:
    """``GET /tokenstorm/faults`` (the active profile, as the fault proxy serves it) and
    ``PUT /tokenstorm/faults`` (``{"profile": "brownout"}`` or a profile object)."""

    async def get_faults(request: web.Request) -> web.Response:
        return _json(book.profile.model_dump(mode="json"))

    async def put_faults(request: web.Request) -> web.Response:
        try:
            book.profile = profile_from_json(await request.read())
        except ProfileError as exc:
            return _json({"error": {"message": str(exc)}}, 400)
        return _json(book.profile.model_dump(mode="json"))

    app.router.add_get("/tokenstorm/faults", get_faults)
    app.router.add_put("/tokenstorm/faults", put_faults)
