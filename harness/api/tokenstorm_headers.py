"""The headers tokenstorm's own parts exchange: a request's run, request and attempt ids out of
the client; the deployment, the fault and the answering part (mock or proxy) back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

RUN_ID_HEADER: Final = "x-tokenstorm-run-id"
REQUEST_ID_HEADER: Final = "x-tokenstorm-request-id"
ATTEMPT_HEADER: Final = "x-tokenstorm-attempt"
DEPLOYMENT_HEADER: Final = "x-tokenstorm-deployment"
FAULT_HEADER: Final = "x-tokenstorm-fault"
#: On every answer of a tokenstorm mock or fault proxy: which of them answered. A client
#: that has seen it knows the ``/tokenstorm/*`` routes are there to be read.
SERVER_HEADER: Final = "x-tokenstorm-server"
MOCK_SERVER: Final = "mock"
PROXY_SERVER: Final = "proxy"
_SERVERS: Final = frozenset({MOCK_SERVER, PROXY_SERVER})


def tokenstorm_server(headers: Mapping[str, str]) -> str | None:
    """``mock`` or ``proxy`` when a tokenstorm part answered, else None (a foreign server)."""
    value = headers.get(SERVER_HEADER, "").strip().lower()
    return value if value in _SERVERS else None
