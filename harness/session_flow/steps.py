"""What the session flow tells its driver and what it keeps per session: ``Send`` (one
attempt, its ``send`` arguments and when it is due), ``WaitFor`` (sessions to wait for) and a
``Session``'s state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypedDict, TypeVar

from harness.contract.records import PlannedRequest
from harness.engine_config import EngineConfig

#: How close to its time a step counts as due (clock resolution after float rounding).
DUE_S = 1e-6
#: Drivers sleep in slices at most this long, so a stop request is seen soon.
SLICE_S = 0.25

#: The driver's handle on a running session (an asyncio task, a greenlet).
H = TypeVar("H")
#: The driver's client (the asyncio ``HttpClient``, the gevent ``GeventClient``).
C = TypeVar("C")


class SendArgs(TypedDict):
    """The keyword arguments of one attempt's ``send`` (the asyncio and gevent clients')."""

    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    stream: bool
    timeout_s: float
    first_token_timeout_s: float | None
    headers: dict[str, str]
    keep_text: bool
    client_prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Send:
    """Send attempt ``attempt`` of ``request`` with ``args``, intended at run-clock
    ``scheduled_s``; ``wait``: sleep until then first (a root's first turn is due already)."""

    request: PlannedRequest
    attempt: int
    scheduled_s: float
    wait: bool
    args: SendArgs


@dataclass(frozen=True, slots=True)
class WaitFor(Generic[H]):
    """Wait until the sessions behind ``handles`` have ended, however they end."""

    handles: list[H]


@dataclass(slots=True, eq=False)
class Session(Generic[H]):
    """One planned session: its turns in order and how far it got."""

    turns: list[PlannedRequest]
    #: Turns before this one have their final record, or an attempt in flight writes it.
    recorded: int = 0
    started: bool = False
    ended: bool = False
    #: The first turn's intended send time when not its offset (the closed loop's slot).
    start_s: float | None = None
    #: A sub-agent session its parent's turn started (its first turn waits and thinks).
    by_parent: bool = False
    handle: H | None = None
    #: The attempt being slept for or sent, and when it was sent (None: not in flight).
    step: Send | None = None
    sent_s: float | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    history_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Senders(Generic[C]):
    """Which client sends an attempt, for both engines: the one of its request's wire API
    (``by_api``: embeddings beside chat, see ``harness.contract.apis.SIDE_APIS``), else the
    client of the target's own API (``default``)."""

    default: C
    by_api: Mapping[str, C] = field(default_factory=dict)

    def of(self, step: Send) -> C:
        return self.by_api.get(step.request.api, self.default)

    def all(self) -> list[C]:
        """Every client, the default first."""
        return [self.default, *(c for c in self.by_api.values() if c is not self.default)]


def send_step(
    config: EngineConfig,
    request: PlannedRequest,
    attempt: int,
    scheduled_s: float,
    wait: bool,
    messages: list[dict[str, str]],
    prompt_tokens: int,
    keep_text: bool,
) -> Send:
    """Attempt ``attempt`` of ``request``: its arguments, its run, request and attempt named
    in headers (the mock and the fault proxy read them)."""
    args: SendArgs = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": request.stream,
        "timeout_s": config.timeout_s,
        "first_token_timeout_s": config.first_token_timeout_s,
        "headers": {
            "x-tokenstorm-run-id": config.run_id,
            "x-tokenstorm-request-id": request.request_id,
            "x-tokenstorm-attempt": str(attempt),
        },
        "keep_text": keep_text,
        "client_prompt_tokens": prompt_tokens,
    }
    return Send(request, attempt, scheduled_s, wait, args)


def retry_step(config: EngineConfig, step: Send, scheduled_s: float) -> Send:
    """The next attempt of ``step``'s request, with the same messages, due at ``scheduled_s``."""
    args = step.args
    messages, tokens, keep_text = args["messages"], args["client_prompt_tokens"], args["keep_text"]
    return send_step(
        config, step.request, step.attempt + 1, scheduled_s, True, messages, tokens, keep_text
    )


def sleep_slice_s(when_s: float, now_s: float) -> float:
    """How long a driver sleeps next on its way to run-clock ``when_s``: 0.0 once due."""
    delay_s = when_s - now_s
    return 0.0 if delay_s <= DUE_S else min(delay_s, SLICE_S)
