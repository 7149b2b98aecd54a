"""The fault catalogue: every fault kind, its parameters, and what it does to the wire.

Data only: the kinds profiles and the ``x-tokenstorm-fault`` header name, the parameters
each accepts (with defaults), when it acts (before the answer, inside a stream, on the
connection, on readiness), and the outcome a client records for it. The mock server and the
fault proxy apply these; ``faults.decide`` chooses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from harness.contract.apis import (
    ANTHROPIC_MESSAGES,
    OPENAI_CHAT,
    OPENAI_COMPLETIONS,
    OPENAI_EMBEDDINGS,
)


class FaultKind(StrEnum):
    DELAY = "delay"
    HANG = "hang"
    HTTP_429 = "http_429"
    QUOTA_429 = "quota_429"
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    OVERLOADED_529 = "overloaded_529"
    HTTP_400 = "http_400"
    HTTP_401 = "http_401"
    HTTP_404 = "http_404"
    HTTP_413 = "http_413"
    STALL = "stall"
    CUT = "cut"
    RESET = "reset"
    ERROR_EVENT = "error_event"
    DROP_USAGE = "drop_usage"
    WRONG_USAGE = "wrong_usage"
    SLOW_DRIP = "slow_drip"
    FRAGMENT = "fragment"
    MALFORMED_CHUNK = "malformed_chunk"
    DOWN = "down"
    FLAP = "flap"


class Phase(StrEnum):
    BEFORE = "before"  # instead of, or before, the answer
    STREAM = "stream"  # inside the answer, after some tokens
    CONNECTION = "connection"  # the listener itself: refuse connections
    HEALTH = "health"  # readiness endpoint only; requests are served


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: FaultKind
    phase: Phase
    summary: str
    #: Parameters this kind accepts, with their defaults (numbers; units in the names).
    params: Mapping[str, float] = field(default_factory=dict)
    #: The HTTP status the client sees (None: 200 or no answer at all).
    status: int | None = None
    #: Outcome a client records (harness.contract.outcomes values), streamed and whole answers.
    outcome_stream: str = "ok"
    outcome_body: str = "ok"
    #: True when an SDK retries it by its status rules (x-should-retry can override).
    retryable: bool = False


def _status(
    kind: FaultKind, status: int, summary: str, retryable: bool, **params: float
) -> KindSpec:
    outcome = "http_429" if status == 429 else ("http_5xx" if status >= 500 else "http_4xx")
    return KindSpec(
        kind, Phase.BEFORE, summary, MappingProxyType(params), status, outcome, outcome, retryable
    )


_SPECS = (
    KindSpec(
        FaultKind.DELAY,
        Phase.BEFORE,
        "wait before answering normally",
        MappingProxyType({"delay_ms": 2000.0}),
    ),
    KindSpec(
        FaultKind.HANG,
        Phase.BEFORE,
        "accept the request and never answer",
        MappingProxyType({"hang_s": 3600.0}),
        None,
        "timeout_first_token",
        "timeout_first_token",
    ),
    _status(
        FaultKind.HTTP_429,
        429,
        "rate limited, with retry-after and rate-limit headers",
        True,
        retry_after_s=1.0,
    ),
    _status(FaultKind.QUOTA_429, 429, "quota exhausted: a 429 that says not to retry", False),
    _status(FaultKind.HTTP_500, 500, "internal server error", True),
    _status(FaultKind.HTTP_502, 502, "bad gateway", True),
    _status(FaultKind.HTTP_503, 503, "service unavailable / overloaded", True, retry_after_s=0.0),
    _status(FaultKind.HTTP_504, 504, "gateway timeout", True),
    _status(FaultKind.OVERLOADED_529, 529, "Anthropic overloaded_error", True, retry_after_s=0.0),
    _status(FaultKind.HTTP_400, 400, "invalid request (e.g. context length exceeded)", False),
    _status(FaultKind.HTTP_401, 401, "authentication error", False),
    _status(FaultKind.HTTP_404, 404, "model not found", False),
    _status(FaultKind.HTTP_413, 413, "request too large", False),
    KindSpec(
        FaultKind.STALL,
        Phase.STREAM,
        "stop sending after N tokens, connection open",
        MappingProxyType({"after_tokens": 10.0, "stall_s": 3600.0}),
        None,
        "timeout_stream",
        "timeout_first_token",
    ),
    KindSpec(
        FaultKind.CUT,
        Phase.STREAM,
        "end cleanly after N tokens without the terminator",
        MappingProxyType({"after_tokens": 10.0}),
        None,
        "stream_cut",
        "stream_cut",
    ),
    KindSpec(
        FaultKind.RESET,
        Phase.STREAM,
        "TCP reset after N tokens",
        MappingProxyType({"after_tokens": 10.0}),
        None,
        "reset",
        "reset",
    ),
    KindSpec(
        FaultKind.ERROR_EVENT,
        Phase.STREAM,
        "in-band error after HTTP 200 and N tokens",
        MappingProxyType({"after_tokens": 10.0}),
        None,
        "stream_error",
        "stream_error",
    ),
    KindSpec(FaultKind.DROP_USAGE, Phase.STREAM, "omit the usage (chunk or field)"),
    KindSpec(
        FaultKind.WRONG_USAGE,
        Phase.STREAM,
        "report usage scaled by a factor",
        MappingProxyType({"usage_factor": 2.0}),
    ),
    KindSpec(
        FaultKind.SLOW_DRIP, Phase.STREAM, "send tokens slowly", MappingProxyType({"itl_ms": 500.0})
    ),
    KindSpec(
        FaultKind.FRAGMENT,
        Phase.STREAM,
        "split SSE frames into tiny writes",
        MappingProxyType({"fragment_bytes": 7.0}),
    ),
    KindSpec(
        FaultKind.MALFORMED_CHUNK,
        Phase.STREAM,
        "send a chunk that is not valid JSON",
        MappingProxyType({"after_tokens": 10.0}),
        None,
        "protocol_error",
        "protocol_error",
    ),
    KindSpec(
        FaultKind.DOWN,
        Phase.CONNECTION,
        "refuse connections (deployment down): a deployment with its own listener "
        "closes it for the window (ECONNREFUSED); an attempt reaching it through the "
        "shared listener or an already open connection is reset instead (outcome reset)",
        MappingProxyType({}),
        None,
        "connect_error",
        "connect_error",
        True,
    ),
    KindSpec(
        FaultKind.FLAP,
        Phase.HEALTH,
        "readiness of the targeted deployments alternates between up and down",
        MappingProxyType({"period_s": 10.0}),
    ),
)

CATALOGUE: Mapping[FaultKind, KindSpec] = MappingProxyType({s.kind: s for s in _SPECS})

#: The API flavours rules target (``targets.apis``), as plans, records and ledgers name them.
API_FLAVOURS = (OPENAI_CHAT, OPENAI_COMPLETIONS, OPENAI_EMBEDDINGS, ANTHROPIC_MESSAGES)
#: Flavours whose answer is one JSON body with no tokens to tamper with: only the faults that
#: act before the answer, on the connection or on readiness apply to them.
WHOLE_ONLY_APIS = frozenset({OPENAI_EMBEDDINGS})

#: Outcome a client records for an attempt a ``down`` fault resets (shared listener).
RESET_OUTCOME = "reset"
#: Kinds whose point is to outlast the client's patience: when the client gives up, that is
#: the fault working, and a ledger keeps the kind's (timeout) outcome, not ``cancelled``.
OUTLASTING = frozenset({FaultKind.HANG, FaultKind.STALL})

#: Parameters every kind accepts, beside its own.
COMMON_PARAMS = frozenset({"first_attempts"})


def spec(kind: str) -> KindSpec:
    """The spec of a kind by name; ``ValueError`` naming the known kinds otherwise."""
    try:
        return CATALOGUE[FaultKind(kind)]
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault kind {kind!r}; known kinds: {known}") from None


def resolve_params(kind: FaultKind, given: Mapping[str, float]) -> dict[str, float]:
    """The kind's defaults overlaid with ``given``; ``ValueError`` on unknown or negative ones."""
    defaults = CATALOGUE[kind].params
    unknown = sorted(set(given) - set(defaults) - COMMON_PARAMS)
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        raise ValueError(
            f"{kind.value} takes no parameter {', '.join(unknown)} (its parameters: {allowed})"
        )
    negative = sorted(name for name, value in given.items() if value < 0)
    if negative:
        raise ValueError(f"{kind.value}: {', '.join(negative)} must not be negative")
    return {**defaults, **{k: float(v) for k, v in given.items() if k not in COMMON_PARAMS}}


def applies(kind: FaultKind, api: str) -> bool:
    """Whether ``kind`` means anything for an attempt of flavour ``api`` (a stream fault does
    not for embeddings, whose answer carries no tokens)."""
    return api not in WHOLE_ONLY_APIS or CATALOGUE[kind].phase is not Phase.STREAM


def abandoned_outcome(kind: FaultKind | None, stream: bool) -> str:
    """The ledger outcome of an attempt whose client went away: the timeout a client records
    when a hang or stall held it, else ``cancelled``."""
    if kind in OUTLASTING:
        spec = CATALOGUE[kind]
        return spec.outcome_stream if stream else spec.outcome_body
    return "cancelled"
