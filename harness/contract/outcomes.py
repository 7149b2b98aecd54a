"""The closed set of attempt outcomes (docs/metrics.md), shared by the client, the mock and metrics.

Exception tree of what can happen to one attempt, and the outcome it maps to::

    attempt
    ├── answered
    │   ├── 2xx, complete stream / body ............ ok
    │   ├── 429 ..................................... http_429
    │   ├── other 4xx ............................... http_4xx
    │   ├── 5xx (incl. 529) ......................... http_5xx
    │   ├── in-band error event after 200 ........... stream_error
    │   ├── stream ended without its terminator ..... stream_cut
    │   └── body not valid JSON / SSE ............... protocol_error
    ├── transport
    │   ├── connect refused / DNS / unreachable ..... connect_error
    │   ├── connection reset mid-response ........... reset
    │   ├── connect took longer than its timeout .... timeout_connect
    │   ├── no first token in time .................. timeout_first_token
    │   └── stream stalled or ran past the deadline . timeout_stream
    └── never finished on our side
        ├── never sent (generator overloaded / run over) dropped
        └── stopped by the user (Ctrl-C) or the run deadline . cancelled
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    TIMEOUT_CONNECT = "timeout_connect"
    TIMEOUT_FIRST_TOKEN = "timeout_first_token"
    TIMEOUT_STREAM = "timeout_stream"
    STREAM_CUT = "stream_cut"
    STREAM_ERROR = "stream_error"
    RESET = "reset"
    CONNECT_ERROR = "connect_error"
    PROTOCOL_ERROR = "protocol_error"
    DROPPED = "dropped"
    CANCELLED = "cancelled"


def outcome_for_status(status_code: int) -> Outcome:
    """Outcome of an answered attempt from its HTTP status alone."""
    if 200 <= status_code < 300:
        return Outcome.OK
    if status_code == 429:
        return Outcome.HTTP_429
    if status_code >= 500:
        return Outcome.HTTP_5XX
    return Outcome.HTTP_4XX


#: Outcomes that mean the request was never sent to the target.
NOT_SENT = frozenset({Outcome.DROPPED})
