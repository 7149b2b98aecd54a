"""What the open-loop engine is given and what it shows while it runs: the sender protocol,
its settings and the live counters the progress display reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.client.exchange import AttemptResult
from harness.client.tokenizer import MockTokenizer, PromptTokenizer
from harness.contract.target import RetryPolicy


class Sender(Protocol):
    async def send(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int,
        stream: bool,
        timeout_s: float,
        first_token_timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        keep_text: bool = False,
        client_prompt_tokens: int | None = None,
    ) -> AttemptResult: ...


@dataclass(frozen=True, slots=True)
class EngineConfig:
    run_id: str
    duration_s: float
    drain_s: float
    timeout_s: float
    first_token_timeout_s: float | None
    retry: RetryPolicy
    max_sessions_in_flight: int = 20_000
    tag_prompt: bool = False
    #: What prompts are sized and counted in (``[target] tokenizer``; the mock's words).
    tokenizer: PromptTokenizer = field(default_factory=MockTokenizer)
    #: The closed loop starts no more sessions than this (a bound on count besides time).
    max_closed_loop_sessions: int = 1_000_000


@dataclass(slots=True)
class LiveStats:
    """Counters the progress display reads while the run goes (written only by the engine)."""

    sent: int = 0
    ok: int = 0
    failed_attempts: int = 0
    in_flight: int = 0
    last_ttft_s: float | None = None
    #: Logical requests whose last attempt has finished, and those of them that failed
    #: (what abort-on-fail checks read; in-flight and cancelled requests are not counted).
    requests_done: int = 0
    requests_failed: int = 0
    dropped: int = 0
