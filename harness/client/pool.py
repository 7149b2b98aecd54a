"""How many connections a plan needs: the planned requests, their timeout and the configured
pool size (if any) in; the expected peak of attempts in flight and the pool to open out.

Each request is counted in flight from its planned offset for a conservative expected
duration (a slow first token and a slow stream, as a large model under load gives, capped by
the attempt's timeout), so the estimate errs on the large side: a pool larger than needed
costs nothing, one too small queues attempts in the client and makes the run measure it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.contract.records import PlannedRequest

#: The pool when the plan needs no more (the size tokenstorm always had).
DEFAULT_MAX_CONNECTIONS = 1024
#: A conservative expected duration per attempt: this first token, then this per output token.
SLOW_FIRST_TOKEN_S = 1.0
SLOW_TOKEN_S = 0.04
#: How much above the expected peak a pool sized from the plan is.
HEADROOM = 1.25
#: File descriptors kept free of the pool (logs, records, the event loop, DNS).
RESERVED_FILES = 64


@dataclass(frozen=True, slots=True)
class PoolPlan:
    max_connections: int
    #: The most attempts the plan is expected to hold in flight at once.
    expected_peak_in_flight: int
    #: True when ``max_connections`` came from the plan, False when it was configured.
    sized_from_plan: bool
    #: Said before the run when the pool may be too small for the plan; else None.
    warning: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "max_connections": self.max_connections,
            "expected_peak_in_flight": self.expected_peak_in_flight,
            "sized_from_plan": self.sized_from_plan,
        }


def expected_duration_s(request: PlannedRequest, timeout_s: float) -> float:
    """How long one attempt of ``request`` is expected to hold a connection, at most."""
    return min(timeout_s, SLOW_FIRST_TOKEN_S + request.max_tokens * SLOW_TOKEN_S)


def expected_peak_in_flight(plan: Sequence[PlannedRequest], timeout_s: float) -> int:
    """The most requests whose expected attempt spans overlap, over the whole plan."""
    if not plan:
        return 0
    starts = np.fromiter((r.offset_s for r in plan), dtype=np.float64, count=len(plan))
    lengths = np.fromiter(
        (expected_duration_s(r, timeout_s) for r in plan), dtype=np.float64, count=len(plan)
    )
    times = np.concatenate([starts, starts + lengths])
    steps = np.concatenate([np.ones(len(plan)), -np.ones(len(plan))])
    # At equal times an end comes before a start: a connection freed is there to reuse.
    order = np.lexsort((steps, times))
    return int(np.cumsum(steps[order]).max())


class PeakTracker:
    """``expected_peak_in_flight`` one request at a time, fed in plan (offset) order: holds
    only the expected ends of the attempts still in flight."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._ends_s: list[float] = []
        self.peak = 0

    def observe(self, request: PlannedRequest) -> None:
        start_s = request.offset_s
        # At equal times an end comes before a start, as in the sweep above.
        while self._ends_s and self._ends_s[0] <= start_s:
            heapq.heappop(self._ends_s)
        heapq.heappush(self._ends_s, start_s + expected_duration_s(request, self._timeout_s))
        self.peak = max(self.peak, len(self._ends_s))


def plan_pool(
    plan: Sequence[PlannedRequest],
    timeout_s: float,
    configured: int | None,
    open_files_limit: int | None,
    known_peak: int | None = None,
    sampled: int | None = None,
) -> PoolPlan:
    """The pool for ``plan``: ``configured`` when given (with a warning when the plan is
    expected to exceed it), else the expected peak plus headroom, at least
    ``DEFAULT_MAX_CONNECTIONS``, within ``open_files_limit`` (the process's ``ulimit -n``).
    ``known_peak`` replaces the estimate where the peak is fixed in advance (a closed loop's
    sessions in flight, whose plan is drawn as it goes); with ``sampled`` it is the peak of
    a long plan's first ``sampled`` requests (a streamed plan is not counted to its end)."""
    peak = expected_peak_in_flight(plan, timeout_s) if known_peak is None else known_peak
    how = (
        f"the plan may hold up to {peak:,} attempts in flight (counted over its first "
        f"{sampled:,} requests)"
        if sampled is not None and known_peak is not None
        else f"the plan may hold up to {peak:,} attempts in flight (each counted "
        f"{SLOW_FIRST_TOKEN_S:g} s + {SLOW_TOKEN_S * 1000:g} ms per output token)"
        if known_peak is None
        else f"the closed loop holds up to {peak:,} attempts in flight"
    )
    consequence = (
        "attempts beyond it wait for a free connection, and a run where any did is marked "
        "invalid (a client bottleneck)"
    )
    if configured is not None:
        warning = (
            f"{how}, more than [target] max_connections = {configured:,}: {consequence}"
            if peak > configured
            else None
        )
        return PoolPlan(configured, peak, False, warning)
    wanted = max(DEFAULT_MAX_CONNECTIONS, math.ceil(peak * HEADROOM))
    if open_files_limit is None or wanted <= open_files_limit - RESERVED_FILES:
        return PoolPlan(wanted, peak, True)
    allowed = max(DEFAULT_MAX_CONNECTIONS, open_files_limit - RESERVED_FILES)
    if allowed >= peak:
        return PoolPlan(allowed, peak, True)
    warning = (
        f"{how}, but this process may open only {open_files_limit:,} files (ulimit -n): "
        f"the pool holds {allowed:,} connections; {consequence}; raise ulimit -n"
    )
    return PoolPlan(allowed, peak, True, warning)
