"""The mock's admin API, for changing a running server: HTTP requests in; the current
settings, replaced demo faults, or a reset of ledger, prefix caches and metrics out.

``GET /tokenstorm/admin/settings``, ``PUT /tokenstorm/admin/faults`` (a ``DemoFaults`` JSON
object; attempts already planned keep the faults they drew) and ``POST
/tokenstorm/admin/reset``. Bad input: a 400 naming the field, the server unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web
from pydantic import ValidationError

from mock_models.settings import DemoFaults

if TYPE_CHECKING:
    from mock_models.server import MockService


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document),
                        content_type="application/json")


def add_admin_routes(app: web.Application, service: MockService) -> None:
    """Register the admin routes of ``service`` on ``app``."""

    async def get_settings(request: web.Request) -> web.Response:
        return web.Response(body=service.settings.model_dump_json().encode(),
                            content_type="application/json")

    async def put_faults(request: web.Request) -> web.Response:
        try:
            faults = DemoFaults.model_validate_json(await request.read())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "(body)"
            message = str(first["msg"]).removeprefix("Value error, ")
            return _json({"error": f"faults: {where}: {message}"}, 400)
        service.settings = service.settings.model_copy(update={"faults": faults})
        return _json(faults.model_dump())

    async def reset(request: web.Request) -> web.Response:
        return _json(service.reset())

    app.router.add_get("/tokenstorm/admin/settings", get_settings)
    app.router.add_put("/tokenstorm/admin/faults", put_faults)
    app.router.add_post("/tokenstorm/admin/reset", reset)
