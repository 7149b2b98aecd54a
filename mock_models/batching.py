"""The iteration-level scheduling core of one deployment: sequences in (each with uncached prompt
tokens and an output length); one ``Step`` at a time out (its duration and which sequences emit
a token when it ends).

Pure: no clock, no sockets, no RNG; the caller passes each step's jitter factor and owns time.
It follows vLLM's continuous batching: up to ``max_num_seqs`` sequences run; the rest wait in a
bounded FIFO queue. A step spends a token budget (``max_num_batched_tokens``) first on one
decode token per running sequence, then on prompt chunks of the sequences still prefilling
(chunked prefill). Its duration is ``step_base + prefill_per_token * prefill tokens +
decode_per_seq * decoding sequences``. Every decoding sequence emits one token when the step
ends, and a sequence whose last prompt chunk was in the step emits its first; so TTFT holds the
queue wait and the prefill steps, and a long prompt prefilled beside running streams stretches
their inter-token gap, as it does in vLLM.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StepCosts:
    """Cost model and limits of one deployment's engine, in seconds and counts."""

    max_num_seqs: int
    max_waiting_seqs: int
    max_num_batched_tokens: int
    step_base_s: float
    prefill_s_per_token: float
    decode_s_per_seq: float


class Sequence(Generic[T]):
    """One request inside the engine; ``handle`` is the caller's (its wire end)."""

    __slots__ = ("aborted", "generated_tokens", "handle", "output_tokens", "prefill_left_tokens")

    def __init__(self, handle: T, uncached_prompt_tokens: int, output_tokens: int) -> None:
        self.handle = handle
        # vLLM recomputes at least the last prompt token even on a full cache hit: the step
        # that computes it samples the first output token.
        self.prefill_left_tokens = max(1, uncached_prompt_tokens)
        self.output_tokens = max(1, output_tokens)
        self.generated_tokens = 0
        self.aborted = False

    @property
    def finished(self) -> bool:
        return self.generated_tokens >= self.output_tokens


@dataclass(frozen=True, slots=True)
class Step(Generic[T]):
    """One engine iteration: how long it takes and what comes out when it ends."""

    duration_s: float
    prefill_tokens: int
    decode_seqs: int
    #: Sequences emitting one token at the end of the step (decoders and finished prefills).
    emitting: tuple[Sequence[T], ...]
    #: Those of ``emitting`` that have then produced their last token.
    finished: tuple[Sequence[T], ...]


class BatchScheduler(Generic[T]):
    """Waiting queue, running slots and the step planner of one deployment."""

    __slots__ = ("_costs", "_running", "_waiting", "_waiting_live")

    def __init__(self, costs: StepCosts) -> None:
        self._costs = costs
        self._waiting: deque[Sequence[T]] = deque()
        self._waiting_live = 0
        self._running: list[Sequence[T]] = []

    @property
    def running(self) -> int:
        """Sequences holding a slot (aborted ones are dropped at the next step)."""
        return sum(1 for seq in self._running if not seq.aborted)

    @property
    def waiting(self) -> int:
        return self._waiting_live

    @property
    def idle(self) -> bool:
        return self._waiting_live == 0 and not any(not s.aborted for s in self._running)

    def submit(self, seq: Sequence[T]) -> bool:
        """Queue ``seq``; False when the waiting queue is full (the caller answers 429/503).

        The bound counts free running slots as queue places, so an idle engine never refuses.
        """
        capacity = self._costs.max_num_seqs + self._costs.max_waiting_seqs
        if len(self._running) + self._waiting_live >= capacity:
            return False
        self._waiting.append(seq)
        self._waiting_live += 1
        return True

    def abort(self, seq: Sequence[T]) -> None:
        """Stop ``seq`` (the client left): it frees its slot or queue place at the next step."""
        if seq.aborted or seq.finished:
            return
        seq.aborted = True
        if seq in self._waiting:
            self._waiting_live -= 1

    def step(self, jitter_factor: float = 1.0) -> Step[T] | None:
        """Plan the next iteration and advance the sequences to its end; None when idle."""
        costs = self._costs
        running = [seq for seq in self._running if not seq.aborted]
        while self._waiting and len(running) < costs.max_num_seqs:
            seq = self._waiting.popleft()
            if not seq.aborted:
                self._waiting_live -= 1
                running.append(seq)
        if not running:
            self._running = running
            return None
        budget = costs.max_num_batched_tokens
        emitting: list[Sequence[T]] = []
        decode_seqs = 0
        for seq in running:
            if seq.prefill_left_tokens == 0 and budget > 0:
                budget -= 1
                decode_seqs += 1
                seq.generated_tokens += 1
                emitting.append(seq)
        prefill_tokens = 0
        for seq in running:
            if budget == 0:
                break
            if seq.prefill_left_tokens > 0:
                chunk = min(seq.prefill_left_tokens, budget)
                budget -= chunk
                prefill_tokens += chunk
                seq.prefill_left_tokens -= chunk
                if seq.prefill_left_tokens == 0:
                    seq.generated_tokens += 1
                    emitting.append(seq)
        finished = tuple(seq for seq in emitting if seq.finished)
        self._running = [seq for seq in running if not seq.finished] if finished else running
        duration_s = (costs.step_base_s + costs.prefill_s_per_token * prefill_tokens
                      + costs.decode_s_per_seq * decode_seqs) * max(0.0, jitter_factor)
        return Step(duration_s=duration_s, prefill_tokens=prefill_tokens,
                    decode_seqs=decode_seqs, emitting=tuple(emitting), finished=finished)
