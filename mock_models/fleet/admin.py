"""The fleet's admin routes: a request on the shared port for the ledger, faults, a run's
start, metrics, readiness or a reset in; the answer of the whole fleet out, from the shared
run folder or by asking every worker on its private admin port (where the same paths answer
for that worker).

An aiohttp middleware picks which: only the listed paths on the shared port are the fleet's;
everything else, answers included, goes straight to the worker's own handlers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import aiohttp
import orjson
from aiohttp import web

from faults.ledger_route import stream_ledger
from faults.profile import ProfileError, profile_from_json
from harness.api.run_start import RUNS_ROUTE, read_run_start, run_start_body
from harness.contract.ledger import pieces_of
from mock_models.fleet import folder
from mock_models.fleet.merge import merged_lines, merged_metrics

#: How long one worker may take to answer an admin request from another.
PEER_TIMEOUT_S: Final = 5.0
_LEDGER, _FAULTS, _RESET = "/tokenstorm/ledger", "/tokenstorm/faults", "/tokenstorm/admin/reset"
_LISTENERS = "/tokenstorm/listeners"
_FLEET_ROUTES: Final = frozenset(
    {
        ("GET", _LEDGER),
        ("DELETE", _LEDGER),
        ("PUT", _FAULTS),
        ("POST", RUNS_ROUTE),
        ("POST", _RESET),
        ("GET", "/metrics"),
        ("GET", "/ready"),
        ("GET", _LISTENERS),
    }
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Answer = tuple[folder.WorkerRecord, int, bytes]


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


class FleetAdmin:
    """The fleet-wide admin of one worker: its run folder, the fleet size and its own admin
    port (requests arriving there are its own)."""

    def __init__(
        self,
        run_folder: Path,
        workers: int,
        own_listener: Callable[[web.Request], bool] = lambda _: False,
    ) -> None:
        self._folder = run_folder
        self._workers = workers
        #: Whether a request came through a deployment's own listener (pinned to this
        #: worker): there ``/ready`` is that deployment's, which lives here only.
        self._own_listener = own_listener
        self.admin_port = -1
        self._session: aiohttp.ClientSession | None = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if (request.method, request.path) not in _FLEET_ROUTES or self._private(request):
            return await handler(request)
        if request.path == "/ready" and self._own_listener(request):
            return await handler(request)
        route = {
            ("GET", _LEDGER): self._get_ledger,
            ("DELETE", _LEDGER): self._delete_ledger,
            ("PUT", _FAULTS): self._put_faults,
            ("POST", RUNS_ROUTE): self._start_run,
            ("POST", _RESET): self._reset,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/ready"): self._ready,
            ("GET", _LISTENERS): self._listeners,
        }[request.method, request.path]
        return await route(request)

    def _private(self, request: web.Request) -> bool:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        return isinstance(sockname, tuple) and int(sockname[1]) == self.admin_port

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _each(
        self, method: str, path: str, body: bytes | None = None, query: str = ""
    ) -> list[_Answer]:
        """Every live worker's answer (status 0: it did not answer, e.g. while restarting)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
            )
        session = self._session

        async def ask(worker: folder.WorkerRecord) -> _Answer:
            url = f"http://127.0.0.1:{worker.admin_port}{path}" + (f"?{query}" if query else "")
            try:
                async with session.request(method, url, data=body) as response:
                    return worker, response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError):
                return worker, 0, b""

        return list(await asyncio.gather(*map(ask, folder.workers(self._folder))))

    async def _get_ledger(self, request: web.Request) -> web.StreamResponse:
        """Every worker's lines since the last clear (``?run_id=``: one run's), merged as they
        are read and streamed a bounded piece at a time."""
        merged = merged_lines(
            folder.ledger_paths(self._folder),
            folder.cleared_offsets(self._folder),
            request.query.get("run_id"),
        )
        return await stream_ledger(request, pieces_of(merged))

    async def _delete_ledger(self, request: web.Request) -> web.Response:
        deleted = folder.mark_cleared(self._folder)
        await self._each("DELETE", _LEDGER)  # frees the workers' in-memory copies
        return _json({"deleted": deleted})

    async def _reset(self, request: web.Request) -> web.Response:
        deleted = folder.mark_cleared(self._folder)
        folder.forget_runs(self._folder)
        blocks = runs = 0
        for _, status, body in await self._each("POST", _RESET):
            if status == 200:
                answer = orjson.loads(body)
                blocks += int(answer.get("prefix_cache_blocks", 0))
                runs = max(runs, int(answer.get("runs", 0)))
        return _json({"ledger_entries": deleted, "prefix_cache_blocks": blocks, "runs": runs})

    async def _start_run(self, request: web.Request) -> web.Response:
        """A run's start, passed on to every worker (its clock read on as it is passed), so
        all of them time the run's windows from one instant."""
        received_s = time.monotonic()
        try:
            run_id, run_clock_s = read_run_start(await request.read())
        except ValueError as exc:
            return _json({"error": {"message": str(exc), "type": "invalid_request_error"}}, 400)
        folder.set_run_start(self._folder, run_id, received_s - run_clock_s)  # for restarts
        body = run_start_body(run_id, run_clock_s + time.monotonic() - received_s)
        await self._each("POST", RUNS_ROUTE, body)
        return _json({"run_id": run_id, "run_clock_s": run_clock_s})

    async def _put_faults(self, request: web.Request) -> web.Response:
        try:
            profile = profile_from_json(await request.read(), f"PUT {_FAULTS}")
        except ProfileError as exc:
            return _json({"error": {"message": str(exc), "type": "invalid_request_error"}}, 400)
        document = profile.model_dump(mode="json")
        # Written before asking the workers: one starting meanwhile reads it after announcing
        # itself, so it gets the profile either from the file or from this request.
        folder.write_atomic(folder.faults_path(self._folder), document)
        failed = [
            worker.index
            for worker, status, _ in await self._each("PUT", _FAULTS, orjson.dumps(document))
            if status not in (0, 200)
        ]
        if failed:
            message = f"workers {failed} refused the profile"
            return _json({"error": {"message": message, "type": "server_error"}}, 502)
        return _json(document)

    async def _metrics(self, request: web.Request) -> web.Response:
        texts = [
            (worker.index, body.decode())
            for worker, status, body in await self._each("GET", "/metrics")
            if status == 200
        ]
        return web.Response(body=merged_metrics(texts), content_type="text/plain", charset="utf-8")

    async def _ready(self, request: web.Request) -> web.Response:
        """200 when every worker is up and ready; the body lists each worker's state."""
        answers = await self._each("GET", "/ready", query=request.query_string)
        states = []
        for worker, status, body in answers:
            state = orjson.loads(body).get("status", "?") if status in (200, 503) else "restarting"
            if status == 404:  # an unknown deployment asked about: every worker says so
                return web.Response(status=404, body=body, content_type="application/json")
            states.append(
                {
                    "worker": worker.index,
                    "pid": worker.pid,
                    "admin_port": worker.admin_port,
                    "restarts": worker.restarts,
                    "status": state,
                }
            )
        not_ready = [s["status"] for s in states if s["status"] != "ready"]
        if len(states) < self._workers:
            not_ready.append("starting")
        return _json(
            {"status": not_ready[0] if not_ready else "ready", "workers": states},
            200 if not not_ready else 503,
        )

    async def _listeners(self, request: web.Request) -> web.Response:
        """Every pinned deployment's listener: its port, its worker and whether it is open
        (not while its worker restarts, nor while a ``down`` window holds it)."""
        pinned = folder.pinned(self._folder)
        open_now: dict[str, bool] = {}
        for _, status, body in await self._each("GET", _LISTENERS):
            if status == 200:
                for name, entry in orjson.loads(body).items():
                    open_now[name] = bool(entry.get("open"))
        return _json(
            {
                name: {"port": port, "open": open_now.get(name, False), "worker": worker}
                for name, (port, worker) in pinned.items()
            }
        )
