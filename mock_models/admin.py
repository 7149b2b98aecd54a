"""The mock's admin API, for changing a running server: HTTP requests in; the current
settings and fault set-up, the replaced fault profile and demo faults, or a reset of ledger,
prefix caches and metrics out.

- ``GET /tokenstorm/admin/settings``: the settings as JSON.
- ``GET /tokenstorm/faults``: the active fault profile (``name``, ``description``, ``rule``,
  as the fault proxy serves it) plus ``demo``, the demo fault table.
- ``PUT /tokenstorm/faults``: ``{"profile": "brownout"}`` (a shipped name or a path), a whole
  profile object, ``{"demo": {...}}``, or a profile and ``"demo"`` together; a bare demo
  table (``{"http_500": 0.1}``, ``{}`` for none) is taken too. Answers with the new set-up.
  ``/tokenstorm/admin/faults`` is the same route under its older name.
- ``POST /tokenstorm/admin/reset``.

Bad input: a 400 with one line naming the field, the server unchanged; attempts already under
way keep the faults they drew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from faults.profile import FaultProfile, ProfileError, profile_from_json
from mock_models.settings import DemoFaults

if TYPE_CHECKING:
    from mock_models.server import MockService

#: Keys that make a PUT body a fault profile (or name one) rather than a bare demo table.
_PROFILE_KEYS = frozenset({"profile", "name", "description", "rule"})
FAULTS_ROUTE = "/tokenstorm/faults"
FAULTS_ALIAS = "/tokenstorm/admin/faults"


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


def _error(message: str) -> web.Response:
    return _json({"error": {"message": message, "type": "invalid_request_error"}}, 400)


def parse_fault_update(
    raw: bytes,
    source: str = f"PUT {FAULTS_ROUTE}",
) -> tuple[FaultProfile | None, DemoFaults | None]:
    """The profile and demo table a PUT asks for (None: keep the current one); raises
    ``ValueError`` with one line naming the field."""
    try:
        document: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{source}: send a JSON object")
    demo_raw = document.pop("demo", None)
    if not _PROFILE_KEYS & document.keys() and demo_raw is None:
        demo_raw, document = document, {}
    profile = None
    if document:
        try:
            profile = profile_from_json(orjson.dumps(document), source)
        except ProfileError as exc:
            raise ValueError(str(exc)) from None
    demo = None
    if demo_raw is not None:
        try:
            demo = DemoFaults.model_validate(demo_raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in ("demo", *first["loc"]))
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{source}: {where}: {message}") from None
    return profile, demo


def add_admin_routes(app: web.Application, service: MockService) -> None:
    """Register the admin and fault routes of ``service`` on ``app``."""

    def fault_setup() -> dict[str, Any]:
        return {
            **service.faults.profile.model_dump(mode="json"),
            "demo": service.settings.faults.model_dump(),
        }

    async def get_settings(request: web.Request) -> web.Response:
        return web.Response(
            body=service.settings.model_dump_json().encode(), content_type="application/json"
        )

    async def get_faults(request: web.Request) -> web.Response:
        return _json(fault_setup())

    async def put_faults(request: web.Request) -> web.Response:
        try:
            profile, demo = parse_fault_update(await request.read(), f"PUT {request.path}")
        except ValueError as exc:
            return _error(str(exc))
        if profile is not None:
            service.faults.profile = profile
        if demo is not None:
            service.settings = service.settings.model_copy(update={"faults": demo})
        return _json(fault_setup())

    async def reset(request: web.Request) -> web.Response:
        return _json(service.reset())

    app.router.add_get("/tokenstorm/admin/settings", get_settings)
    for path in (FAULTS_ROUTE, FAULTS_ALIAS):
        app.router.add_get(path, get_faults)
        app.router.add_put(path, put_faults)
    app.router.add_post("/tokenstorm/admin/reset", reset)
