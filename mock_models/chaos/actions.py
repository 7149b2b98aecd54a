"""The seam between deciding a fault and applying it: a ``FaultChoice`` (as ``faults``
decides it) in; what the server does about it before the answer, and the ledger outcome, out.

The catalogue's faults that act before the answer are carried out by ``apply_before``, those
inside the answer by a ``mock_models.chaos.tamper.Tamper``, without touching the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from faults.catalogue import CATALOGUE, OUTLASTING, RESET_OUTCOME, FaultKind
from faults.decide import FaultChoice
from faults.injection import error_body, error_headers
from faults.proxy.relay import reset_connection
from harness.api.wire_api import WireApi
from harness.contract.outcomes import Outcome
from mock_models.sim.progress import Progress


async def apply_before(
    request: web.Request,
    choice: FaultChoice,
    api: WireApi,
    headers: Mapping[str, str],
    progress: Progress,
) -> web.Response | None:
    """Carry out a catalogue fault that acts before the answer (an error status with the
    provider's body and headers, a refused connection, a hang, a delay); None when the
    answer goes ahead.

    ``down`` aborts the transport before any byte: the attempt came through the shared
    listener (or a connection opened before the window), which cannot refuse it, and a
    client sees the same thing as a pod that died under it (its outcome is ``reset``). A
    deployment with its own listener refuses new connections for the window instead
    (``mock_models.http.listeners``).
    """
    kind, params = choice.kind, choice.params
    status = CATALOGUE[kind].status
    if status is not None:
        all_headers = {**headers, **error_headers(kind, api, params)}
        content_type = all_headers.pop("content-type")
        progress.status = status
        request_id = headers.get(api.id_header, "")
        return web.Response(
            status=status,
            body=error_body(kind, api, request_id),
            headers=all_headers,
            content_type=content_type,
        )
    if kind is FaultKind.HANG:
        await asyncio.sleep(params["hang_s"])
    if kind in (FaultKind.DOWN, FaultKind.HANG):
        reset_connection(request)
        progress.status = 0
        return web.Response(status=502)
    if kind is FaultKind.DELAY:
        await asyncio.sleep(params["delay_ms"] / 1000.0)
    return None


_OUTLASTED = frozenset(kind.value for kind in OUTLASTING)


def fault_outcome(kind: FaultKind, stream: bool) -> str:
    """The ledger outcome of an attempt the mock answers with fault ``kind``: the one the
    catalogue says a client records, except ``down``, which the mock applies to an attempt
    it already accepted as a reset."""
    if kind is FaultKind.DOWN:
        return RESET_OUTCOME
    spec = CATALOGUE[kind]
    return spec.outcome_stream if stream else spec.outcome_body


def abandoned_outcome(fault: str | None, outcome: str) -> str:
    """The ledger outcome of an attempt whose client went away: ``outcome`` (the fault's
    timeout, set when it was applied) when a hang or stall held it, else ``cancelled``
    (``faults.catalogue.abandoned_outcome``); the line's completion tokens say how far the
    answer got before the client left."""
    return outcome if fault in _OUTLASTED else Outcome.CANCELLED
