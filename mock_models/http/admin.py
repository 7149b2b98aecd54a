"""The mock's admin API, for changing a running server: HTTP requests in; the current
settings, the active or replaced fault profile, a run's start, or a reset of ledger, prefix
caches, metrics and run clocks out.

- ``GET /tokenstorm/admin/settings``: the settings as JSON.
- ``GET /tokenstorm/faults``: the active fault profile (``name``, ``description``, ``rule``,
  as the fault proxy serves it).
- ``PUT /tokenstorm/faults``: ``{"profile": "brownout"}`` (a shipped name or a path) or a
  whole profile object; answers with the new profile.
- ``POST /tokenstorm/runs``: ``{"run_id": ..., "run_clock_s": ...}``, what the run's clock
  read as it sent this: fault windows of that run are timed on its clock from then on.
- ``POST /tokenstorm/admin/reset``.

Bad input: a 400 with one line naming the field, the server unchanged; attempts already under
way keep the faults they drew.
"""

from __future__ import annotations

import time
from typing import Protocol

import orjson
from aiohttp import web

from faults.profile import ProfileError, profile_from_json
from harness.api.run_start import RUNS_ROUTE, read_run_start
from mock_models.chaos.book import FaultBook
from mock_models.settings import MockSettings


class AdminService(Protocol):
    """What the admin routes need of the server: its settings, faults and reset."""

    @property
    def settings(self) -> MockSettings: ...

    @property
    def faults(self) -> FaultBook: ...

    def reset(self) -> dict[str, int]: ...


FAULTS_ROUTE = "/tokenstorm/faults"


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


def _error(message: str) -> web.Response:
    return _json({"error": {"message": message, "type": "invalid_request_error"}}, 400)


def add_admin_routes(app: web.Application, service: AdminService) -> None:
    """Register the admin and fault routes of ``service`` on ``app``."""

    def active_profile() -> web.Response:
        return _json(service.faults.profile.model_dump(mode="json"))

    async def get_settings(request: web.Request) -> web.Response:
        return web.Response(
            body=service.settings.model_dump_json().encode(), content_type="application/json"
        )

    async def get_faults(request: web.Request) -> web.Response:
        return active_profile()

    async def put_faults(request: web.Request) -> web.Response:
        try:
            profile = profile_from_json(await request.read(), f"PUT {FAULTS_ROUTE}")
        except ProfileError as exc:
            return _error(str(exc))
        service.faults.profile = profile
        return active_profile()

    async def start_run(request: web.Request) -> web.Response:
        received_s = time.monotonic()
        try:
            run_id, run_clock_s = read_run_start(await request.read())
        except ValueError as exc:
            return _error(str(exc))
        service.faults.start_run(run_id, received_s - run_clock_s)
        return _json({"run_id": run_id, "run_clock_s": run_clock_s})

    async def reset(request: web.Request) -> web.Response:
        return _json(service.reset())

    app.router.add_get("/tokenstorm/admin/settings", get_settings)
    app.router.add_get(FAULTS_ROUTE, get_faults)
    app.router.add_put(FAULTS_ROUTE, put_faults)
    app.router.add_post(RUNS_ROUTE, start_run)
    app.router.add_post("/tokenstorm/admin/reset", reset)
