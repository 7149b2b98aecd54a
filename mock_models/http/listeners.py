"""Deployments' own listeners: the settings' deployments with a ``port`` and the mock's fault
book in; one listening socket per such deployment, closed while a ``down`` window holds it
(so clients get ECONNREFUSED, as from a crashed pod) and reopened on the same port when the
window ends, plus which deployment a request reached through its own listener.

The server's shared listener serves every deployment and is never closed: there a ``down``
attempt is reset instead (see ``mock_models.chaos.actions.apply_before``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from typing import Final

import orjson
from aiohttp import web

from faults.proxy.relay import reset_transport
from mock_models.chaos.book import FaultBook
from mock_models.settings import DeploymentSettings, MockSettings

#: How often the fault windows are checked: the refusal starts at most this late.
POLL_S: Final = 0.02


class ListenerPortError(OSError):
    """A deployment's own ``port`` cannot be bound; ``str()`` is one line naming the field."""


class DeploymentListeners:
    """The own listeners of one mock server's deployments (none when no deployment has a
    ``port``)."""

    def __init__(self, settings: MockSettings, book: FaultBook) -> None:
        self._book = book
        self._owned = {d.name: d for d in settings.deployments if d.port is not None}
        self._ports: dict[str, int] = {}
        self._by_port: dict[int, str] = {}
        self._servers: dict[str, asyncio.base_events.Server] = {}
        #: Connections a ``down`` window reset, per deployment, held until it reopens (the
        #: objects themselves: an ``id`` could be reused by a later connection meanwhile).
        self._dropped: dict[str, set[asyncio.BaseTransport]] = {}
        self._host = "127.0.0.1"
        self._handler: web.Server | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._reuse_port = False

    def pin(self, ports: Mapping[str, int]) -> None:
        """Own only the deployments named, each on the port given (a fleet worker's share:
        its parent holds those ports with ``SO_REUSEPORT``, so listeners open with it too)."""
        unknown = set(ports) - set(self._owned)
        if unknown:
            raise ValueError(f"no deployment with a port of its own named {sorted(unknown)}")
        self._owned = {name: self._owned[name] for name in ports}
        self._ports = dict(ports)
        self._reuse_port = True

    @property
    def ports(self) -> dict[str, int]:
        """The bound port of each deployment with a listener of its own."""
        return dict(self._ports)

    def is_open(self, deployment: str) -> bool:
        return deployment in self._servers

    async def start(self, host: str, handler: web.Server) -> None:
        """Open every own listener, then follow the fault windows until ``close``."""
        if not self._owned:
            return
        self._host, self._handler = host, handler
        for name, deployment in self._owned.items():
            await self._open(name, self._ports.get(name, deployment.port or 0))
        self._watcher = asyncio.create_task(self._watch())

    async def _open(self, name: str, port: int) -> None:
        assert self._handler is not None
        try:
            server = await asyncio.get_running_loop().create_server(
                self._handler,
                self._host,
                port,
                backlog=4096,
                reuse_address=True,
                reuse_port=self._reuse_port or None,
            )
        except OSError as exc:
            # The loop's own message names only the address; the user needs the field to edit.
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ListenerPortError(
                f"deployments.{name}.port {port}: {why}; pick another or 0"
            ) from exc
        bound = int(server.sockets[0].getsockname()[1])
        self._servers[name] = server
        self._dropped.pop(name, None)
        self._ports[name] = bound
        self._by_port[bound] = name

    def _shut(self, name: str) -> None:
        """Stop listening and reset the open connections too, as a crashing process would
        (a kernel resets what it closes with unread data; a FIN would read as a clean cut)."""
        self._servers.pop(name).close()
        port = self._ports[name]
        assert self._handler is not None
        dropped = self._dropped.setdefault(name, set())
        for connection in list(self._handler.connections):
            transport = connection.transport
            if transport is not None and _local_port(transport) == port:
                dropped.add(transport)
                reset_transport(transport)

    async def _watch(self) -> None:
        while True:
            now_s = time.monotonic()
            for name, deployment in self._owned.items():
                down = self._book.refusing(name, deployment.model, now_s)
                if down and name in self._servers:
                    self._shut(name)
                elif not down and name not in self._servers:
                    try:
                        await self._open(name, self._ports[name])
                    except OSError:
                        pass  # the port is taken for now; try again on the next poll
            await asyncio.sleep(POLL_S)

    def dropped(self, transport: asyncio.BaseTransport | None) -> bool:
        """Whether a ``down`` window cut this connection (its attempt then ends as a reset)."""
        return transport is not None and any(transport in reset for reset in self._dropped.values())

    def owner(self, request: web.Request) -> str | None:
        """The deployment whose own listener ``request`` came through (None: the shared one)."""
        if not self._by_port or request.transport is None:
            return None
        return self._by_port.get(_local_port(request.transport))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        self._dropped.clear()


def _local_port(transport: asyncio.BaseTransport) -> int:
    sockname = transport.get_extra_info("sockname")
    return int(sockname[1]) if isinstance(sockname, tuple) else -1


def asked_about(
    request: web.Request, settings: MockSettings, listeners: DeploymentListeners
) -> DeploymentSettings | None:
    """The deployment a readiness probe asks about: ``?deployment=NAME`` or ``?model=M``, else
    the one whose own listener it came through; None for the server as a whole. Raises
    ``web.HTTPNotFound`` naming the known deployments for an unknown one."""
    name = request.query.get("deployment") or listeners.owner(request)
    model = request.query.get("model")
    if name is None:
        if model is None:
            return None
        found = settings.deployment_for(model)
        if found is not None:
            return found
    for deployment in settings.deployments:
        if deployment.name == name:
            return deployment
    known = ", ".join(d.name for d in settings.deployments)
    message = f"no deployment {name or model!r}; known deployments: {known}"
    raise web.HTTPNotFound(
        text=orjson.dumps({"error": {"message": message}}).decode(), content_type="application/json"
    )


def listener_routes(app: web.Application, listeners: DeploymentListeners) -> None:
    """``GET /tokenstorm/listeners``: each own listener's port and whether it is open."""

    async def describe(request: web.Request) -> web.Response:
        document = {
            name: {"port": port, "open": listeners.is_open(name)}
            for name, port in listeners.ports.items()
        }
        return web.Response(body=orjson.dumps(document), content_type="application/json")

    app.router.add_get("/tokenstorm/listeners", describe)
