"""The seam between deciding a fault and applying it: a fault kind (as ``faults`` decides it)
and the fault settings in; a ``FaultAction`` the server knows how to carry out out.

The server only ever applies actions (``Refuse`` before any byte, ``Cut`` after N tokens), so
a larger catalogue of kinds grows by mapping each new kind here, or by adding an action kind
and its one application in the server, without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mock_models.flavour import ErrorKind
from mock_models.settings import DemoFaults


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer with a provider error before any byte of an answer."""

    status: int
    kind: ErrorKind
    message: str
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Cut:
    """End the answer after ``after_tokens`` tokens: no terminator, or a truncated body."""

    after_tokens: int


FaultAction = Refuse | Cut

_REFUSALS: Final[dict[str, tuple[int, ErrorKind, str]]] = {
    "http_429": (429, ErrorKind.RATE_LIMIT,
                 "Rate limit reached for requests (injected by tokenstorm mock)."),
    "http_500": (500, ErrorKind.SERVER_ERROR,
                 "The server had an error while processing your request (injected)."),
    "http_503": (503, ErrorKind.OVERLOADED,
                 "The server is overloaded or not ready yet (injected)."),
}


def action_for(fault: str | None, faults: DemoFaults) -> FaultAction | None:
    """What the server does about ``fault`` (None: answer normally)."""
    if fault is None:
        return None
    if fault in _REFUSALS:
        status, kind, message = _REFUSALS[fault]
        return Refuse(status, kind, message, faults.retry_after_s if status == 429 else None)
    if fault == "cut":
        return Cut(faults.cut_after_tokens)
    raise ValueError(f"no action for fault kind {fault!r}")
