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

KV cache (``kv_capacity_tokens`` > 0): a running sequence holds the KV of its prompt (its
prefix-cache hits from admission on) and of every token computed since. When the next step's
tokens would not fit, the newest running sequence is preempted as vLLM does in recompute mode:
it frees its KV and goes back to the front of the waiting queue, to prefill again its prompt
(minus its prefix-cache hits) and the tokens it had generated before it emits the next one.
No sequence is admitted in a step that preempted, nor one whose first chunk does not fit.
The oldest running sequence is never preempted, so a single sequence larger than the cache
still finishes (over capacity) instead of cycling forever.
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
    #: KV cache size in tokens; 0 means unbounded (no preemption).
    kv_capacity_tokens: int = 0


class Sequence(Generic[T]):
    """One request inside the engine; ``handle`` is the caller's (its wire end)."""

    __slots__ = (
        "aborted",
        "cached_prompt_tokens",
        "generated_tokens",
        "handle",
        "kv_tokens",
        "output_tokens",
        "preemptions",
        "prefill_left_tokens",
        "uncached_prompt_tokens",
    )

    def __init__(
        self,
        handle: T,
        uncached_prompt_tokens: int,
        output_tokens: int,
        cached_prompt_tokens: int = 0,
    ) -> None:
        self.handle = handle
        self.uncached_prompt_tokens = max(0, uncached_prompt_tokens)
        #: Prompt tokens found in the prefix cache: held in KV from admission, not computed.
        self.cached_prompt_tokens = max(0, cached_prompt_tokens)
        # vLLM recomputes at least the last prompt token even on a full cache hit: the step
        # that computes it samples the first output token.
        self.prefill_left_tokens = max(1, uncached_prompt_tokens)
        self.output_tokens = max(1, output_tokens)
        self.generated_tokens = 0
        #: KV tokens this sequence holds while running (0 while waiting).
        self.kv_tokens = 0
        #: Times this sequence was preempted.
        self.preemptions = 0
        self.aborted = False

    @property
    def finished(self) -> bool:
        return self.generated_tokens >= self.output_tokens

    def admitted_kv_tokens(self) -> int:
        """KV held as soon as the sequence is admitted: its prefix-cache hits, less the one
        token a full hit still computes."""
        context = self.cached_prompt_tokens + self.uncached_prompt_tokens + self.generated_tokens
        return min(self.cached_prompt_tokens, context - self.prefill_left_tokens)

    def preempt(self) -> None:
        """Free the KV; the prompt (minus cache hits) and the tokens generated so far must be
        prefilled again before the next token."""
        self.kv_tokens = 0
        self.preemptions += 1
        self.prefill_left_tokens = max(1, self.uncached_prompt_tokens + self.generated_tokens)


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
    #: Sequences preempted before this step (back in the waiting queue).
    preempted: int = 0
    #: KV tokens the running sequences hold at the end of the step.
    kv_used_tokens: int = 0


class BatchScheduler(Generic[T]):
    """Waiting queue, running slots and the step planner of one deployment."""

    __slots__ = ("_costs", "_running", "_waiting", "_waiting_live", "kv_used_tokens", "preemptions")

    def __init__(self, costs: StepCosts) -> None:
        self._costs = costs
        self._waiting: deque[Sequence[T]] = deque()
        self._waiting_live = 0
        self._running: list[Sequence[T]] = []
        #: KV held by the running sequences after the last step (0 when unbounded).
        self.kv_used_tokens = 0
        #: Preemptions so far.
        self.preemptions = 0

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
        budget = costs.max_num_batched_tokens
        # Tokens each running sequence computes this step (``planned[i]`` for ``running[i]``):
        # one decode token each first, then prompt chunks in admission order.
        planned = [0] * len(running)
        for index, seq in enumerate(running):
            if seq.prefill_left_tokens == 0 and budget > 0:
                budget -= 1
                planned[index] = 1
        for index, seq in enumerate(running):
            if budget == 0:
                break
            if seq.prefill_left_tokens > 0:
                chunk = min(seq.prefill_left_tokens, budget)
                budget -= chunk
                planned[index] = chunk
        preempted, used = self._preempt_to_fit(running, planned)
        budget = self._admit(running, planned, budget, used, preempted)
        if not running:
            self._running = running
            self.kv_used_tokens = 0
            return None
        emitting: list[Sequence[T]] = []
        decode_seqs = prefill_tokens = 0
        for seq, tokens in zip(running, planned, strict=True):
            if tokens and seq.prefill_left_tokens == 0:
                decode_seqs += 1
                seq.kv_tokens += 1
                seq.generated_tokens += 1
                emitting.append(seq)
        for seq, chunk in zip(running, planned, strict=True):
            if chunk and seq.prefill_left_tokens > 0:
                prefill_tokens += chunk
                seq.kv_tokens += chunk
                seq.prefill_left_tokens -= chunk
                if seq.prefill_left_tokens == 0:
                    seq.generated_tokens += 1
                    emitting.append(seq)
        finished = tuple(seq for seq in emitting if seq.finished)
        self._running = [seq for seq in running if not seq.finished] if finished else running
        if costs.kv_capacity_tokens:
            self.kv_used_tokens = sum(seq.kv_tokens for seq in self._running)
        duration_s = (
            costs.step_base_s
            + costs.prefill_s_per_token * prefill_tokens
            + costs.decode_s_per_seq * decode_seqs
        ) * max(0.0, jitter_factor)
        return Step(
            duration_s=duration_s,
            prefill_tokens=prefill_tokens,
            decode_seqs=decode_seqs,
            emitting=tuple(emitting),
            finished=finished,
            preempted=preempted,
            kv_used_tokens=self.kv_used_tokens,
        )

    def _preempt_to_fit(self, running: list[Sequence[T]], planned: list[int]) -> tuple[int, int]:
        """Preempt the newest running sequences until the planned tokens fit the KV cache;
        return (preemptions, KV tokens then held or planned)."""
        capacity = self._costs.kv_capacity_tokens
        if not capacity:
            return 0, 0
        used = sum(seq.kv_tokens for seq in running) + sum(planned)
        preempted = 0
        while used > capacity and len(running) > 1:
            victim = running.pop()
            used -= victim.kv_tokens + planned.pop()
            victim.preempt()
            self._waiting.appendleft(victim)
            self._waiting_live += 1
            preempted += 1
        self.preemptions += preempted
        return preempted, used

    def _admit(
        self, running: list[Sequence[T]], planned: list[int], budget: int, used: int, preempted: int
    ) -> int:
        """Move waiting sequences into free slots (with the KV cache bounded: only while no
        preemption happened and their first chunk fits); return the budget left."""
        costs = self._costs
        capacity = costs.kv_capacity_tokens
        while self._waiting and len(running) < costs.max_num_seqs:
            seq = self._waiting[0]
            if seq.aborted:
                self._waiting.popleft()
                continue
            chunk = min(seq.prefill_left_tokens, budget)
            if capacity:
                held = seq.admitted_kv_tokens()
                # An empty engine admits its head whatever its size (see the module docstring).
                if running and (preempted or chunk == 0 or used + held + chunk > capacity):
                    break
                seq.kv_tokens = held
                used += held + chunk
            self._waiting.popleft()
            self._waiting_live -= 1
            budget -= chunk
            planned.append(chunk)
            running.append(seq)
        return budget
