"""The asyncio driver of one deployment's batching engine: sequences with a ``TokenSink`` in;
steps run on the clock it is given (``mock_models.sim.clock``), each step's tokens handed to every
emitting sink at once.

One task per deployment sleeps until each step's absolute end and then calls the sinks
directly (no task wake-up per stream), which is what lets one core hold thousands of open
streams. The scheduling itself is ``mock_models.sim.batching`` (pure).

The engine also tells how late each token went out against the schedule the model set when
its sequence came in (``TokenSink.lag_sum_s``): a mock whose core cannot keep up starts steps
late, or moves its whole schedule after a long stall, and the tokens' timing then describes
the mock, not the model. Every move of the schedule since a sequence was submitted counts
against all of its later tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Protocol

from mock_models.settings import EngineSettings
from mock_models.sim.batching import BatchScheduler, Sequence, StepCosts
from mock_models.sim.clock import LAG_NOTED_S, Clock
from mock_models.sim.metrics import DeploymentMetrics
from mock_models.sim.prefix_cache import PrefixCache

_TRUNCATE_SIGMAS = 3.0


class TokenSink(Protocol):
    """Where a sequence's tokens go (a stream's transport, or a counter for a JSON body)."""

    #: Over the tokens it was given, the sum of how late each went out against the schedule
    #: (delays over ``LAG_NOTED_S`` only).
    lag_sum_s: float
    #: The engine's schedule moves (``DeploymentEngine._drift_s``) when it was submitted.
    lag_base_s: float

    def token(self) -> None:
        """One more token was generated (at the end of the current step)."""
        ...

    def finish(self) -> None:
        """The sequence produced its last token."""
        ...


def step_costs(settings: EngineSettings) -> StepCosts:
    """The scheduler's view of the settings, in seconds."""
    return StepCosts(
        max_num_seqs=settings.max_num_seqs,
        max_waiting_seqs=settings.max_waiting_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        step_base_s=settings.step_base_ms / 1000.0,
        prefill_s_per_token=settings.prefill_ms_per_token / 1000.0,
        decode_s_per_seq=settings.decode_ms_per_seq / 1000.0,
        kv_capacity_tokens=settings.kv_capacity_tokens,
    )


class DeploymentEngine:
    """The engine loop of one deployment; started on the first submission."""

    __slots__ = (
        "_clock",
        "_drift_s",
        "_jitter",
        "_rng",
        "_scheduler",
        "_step_end_s",
        "_step_s",
        "_task",
        "_wake",
        "_woken_s",
        "metrics",
        "prefix_cache",
        "settings",
    )

    def __init__(
        self,
        settings: EngineSettings,
        jitter: float,
        seed: int,
        metrics: DeploymentMetrics | None = None,
        *,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.metrics = metrics if metrics is not None else DeploymentMetrics()
        self._scheduler: BatchScheduler[TokenSink] = BatchScheduler(step_costs(settings))
        self._jitter = jitter
        self._rng = random.Random(seed)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: How far the engine's schedule has been moved so far, in all: a step that could not
        #: start within a step of its end starts the schedule afresh from then.
        self._drift_s = 0.0
        #: The end of the step the engine waits for and its length (None while idle).
        self._step_end_s: float | None = None
        self._step_s = 0.0
        #: When the submission that woke an idle engine came (its schedule starts there).
        self._woken_s: float | None = None
        self.prefix_cache = PrefixCache(settings.prefix_cache_blocks, settings.block_size_tokens)

    @property
    def running(self) -> int:
        return self._scheduler.running

    @property
    def waiting(self) -> int:
        return self._scheduler.waiting

    @property
    def kv_cache_usage(self) -> float:
        """Share of the KV cache the running sequences hold (0 when it is unbounded)."""
        capacity = self.settings.kv_capacity_tokens
        return self._scheduler.kv_used_tokens / capacity if capacity else 0.0

    @property
    def preemptions(self) -> int:
        return self._scheduler.preemptions

    def submit(
        self,
        sink: TokenSink,
        uncached_prompt_tokens: int,
        output_tokens: int,
        cached_prompt_tokens: int = 0,
    ) -> Sequence[TokenSink] | None:
        """Queue a sequence (its prefix-cache hits hold KV but are not prefilled); None when
        the waiting queue is full."""
        seq = Sequence(sink, uncached_prompt_tokens, output_tokens, cached_prompt_tokens)
        if not self._scheduler.submit(seq):
            return None
        now_s = self._clock.now_s()
        # The move a stall in progress will make at the next step is already built up: it did
        # not delay a sequence that arrives now.
        pending_s = 0.0
        if self._step_end_s is not None:
            pending_s = max(0.0, now_s - self._step_end_s - self._step_s)
        sink.lag_base_s = self._drift_s + pending_s
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._wake is not None
        if not self._wake.is_set() and self._woken_s is None:
            self._woken_s = now_s
        self._wake.set()
        return seq

    def abort(self, seq: Sequence[TokenSink]) -> None:
        self._scheduler.abort(seq)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _jitter_factor(self) -> float:
        if self._jitter == 0.0:
            return 1.0
        z = self._rng.gauss(0.0, 1.0)
        while abs(z) > _TRUNCATE_SIGMAS:
            z = self._rng.gauss(0.0, 1.0)
        return max(0.0, 1.0 + self._jitter * z)

    def _wake_time(self) -> float:
        """Where the schedule starts after idle: the submission that woke the engine (the wait
        until this task ran is the mock's), or now."""
        woken_s, self._woken_s = self._woken_s, None
        return self._clock.now_s() if woken_s is None else woken_s

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        clock = self._clock
        now_s = clock.now_s
        step_end = self._wake_time()
        while True:
            step = self._scheduler.step(self._jitter_factor())
            if step is None:
                # Aborts can empty the batch without a step: the gauge must still drop to 0.
                self.metrics.kv_cache_usage = self.kv_cache_usage
                self._step_end_s = None
                wake.clear()
                await wake.wait()
                step_end = self._wake_time()
                continue
            # Absolute step ends, the next computed while this one's tokens go out (as vLLM
            # overlaps output processing with the next step): lateness of up to one step is
            # caught up, a longer stall moves the schedule instead of causing a burst.
            scheduled_end = step_end + step.duration_s
            step_end = max(step_end, now_s() - step.duration_s) + step.duration_s
            self._drift_s += step_end - scheduled_end
            self._step_end_s, self._step_s = step_end, step.duration_s
            if step_end - now_s() > _EARLY_S:
                await clock.sleep_until(step_end, _EARLY_S)
            else:
                await asyncio.sleep(0)  # a late step still lets new requests in first
            # A token's lag: this step's own lateness, and every move of the schedule since its
            # sequence came in.
            late_s = now_s() - step_end + self._drift_s
            # Every decoding stream's gap is this step (first tokens are TTFT, not ITL).
            metrics = self.metrics
            metrics.itl.observe(step.duration_s, step.decode_seqs)
            metrics.preemptions += step.preempted
            metrics.kv_cache_usage = self.kv_cache_usage
            noted_s = LAG_NOTED_S
            for seq in step.emitting:
                if not seq.aborted:
                    handle = seq.handle
                    lag_s = late_s - handle.lag_base_s
                    if lag_s > noted_s:
                        handle.lag_sum_s += lag_s
                    handle.token()
            for seq in step.finished:
                if not seq.aborted:
                    seq.handle.finish()


#: How early a step may end: sleeping again for less than this would spin the loop.
_EARLY_S = 0.0002
