"""Time slices of a long run: attempt records (one at a time, any order) in, per-window figures
and the per-attempt samples of any span of windows out.

A window is ``[k * width_s, (k + 1) * width_s)`` on the run clock; an attempt belongs to the
window of its send time (``sent_s``), as every latency trend of ``harness.stats.trends`` is
timed; attempts never sent are left out. ``window_width_s`` picks the width: 1 minute, or the
first step of ``WIDTH_LADDER_S`` that keeps a run to at most ``MAX_WINDOWS`` windows (4 h: 240
windows of 1 min; 24 h: 144 of 10 min), so a day-long run still has a bounded timeline.

Per window, with the definitions of ``harness.metrics.latency``:

- ``ttft_ms`` / ``e2e_ms`` ``p50`` and ``p99``: exact percentiles over the window's successful
  attempts (``harness.metrics.percentiles``), None without one;
- ``error_rate``: failed attempts / sent attempts (per *attempt*: a retry counts on its own,
  unlike the summary's per-request ``error_rate``, because a request's final outcome may land
  in a later window);
- ``requests_per_s``: first attempts sent per second of the window (a partial last window is
  divided by the part the run covered);
- ``cost_usd``: the client's view of what the window's attempts are billed
  (``harness.metrics.costs.items_from_records``), None when any of them has no price.

Memory: an accumulator keeps, per successful attempt, its TTFT and E2E as 8-byte floats and,
per sent attempt, one byte (failed or not), so that a span's samples can be compared later;
nothing else of a record is held.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.contract.records import AttemptRecord
from harness.cost import PriceBook, billed_tokens
from harness.metrics import latency as lat
from harness.metrics.costs import UNKNOWN
from harness.metrics.percentiles import quantile

#: Default window width and the coarser widths a long run moves to, in seconds.
WINDOW_S = 60.0
WIDTH_LADDER_S = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
#: Most windows a run is cut into (below the ladder's top).
MAX_WINDOWS = 240


def window_width_s(duration_s: float) -> float:
    """The narrowest ladder width that cuts ``duration_s`` into at most ``MAX_WINDOWS``."""
    for width_s in WIDTH_LADDER_S:
        if math.ceil(max(duration_s, 0.0) / width_s) <= MAX_WINDOWS:
            return width_s
    return float(math.ceil(duration_s / MAX_WINDOWS))


@dataclass(slots=True)
class WindowSamples:
    """What one window keeps of its attempts (see the module docstring)."""

    ttft_s: array[float] = field(default_factory=lambda: array("d"))
    e2e_s: array[float] = field(default_factory=lambda: array("d"))
    failed: array[int] = field(default_factory=lambda: array("B"))
    requests: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    """The figures of one window (None: nothing to compute them from)."""

    start_s: float
    span_s: float
    attempts: int
    failed: int
    requests: int
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    e2e_p50_ms: float | None
    e2e_p99_ms: float | None
    cost_usd: float | None

    @property
    def ok(self) -> int:
        return self.attempts - self.failed

    @property
    def error_rate(self) -> float | None:
        return self.failed / self.attempts if self.attempts else None

    @property
    def requests_per_s(self) -> float | None:
        return self.requests / self.span_s if self.span_s > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "span_s": self.span_s,
            "attempts": self.attempts,
            "failed": self.failed,
            "error_rate": self.error_rate,
            "requests_per_s": self.requests_per_s,
            "ttft_ms": {"p50": self.ttft_p50_ms, "p99": self.ttft_p99_ms},
            "e2e_ms": {"p50": self.e2e_p50_ms, "p99": self.e2e_p99_ms},
            "cost_usd": self.cost_usd,
        }


def _ms(values: array[float], q: float) -> float | None:
    found = quantile(values, q)
    return None if found is None else found * 1000.0


class TimeSlicer:
    """Accumulates attempt records into windows; ``windows()`` gives their figures.

    Feed it with ``add`` (or ``add_all``) in any order, one record at a time, so a caller
    streaming records from disk never holds them all.
    """

    def __init__(
        self, duration_s: float, prices: PriceBook | None = None, width_s: float | None = None
    ) -> None:
        self.duration_s = duration_s
        self.width_s = window_width_s(duration_s) if width_s is None else width_s
        self._prices = prices
        self._slots: dict[int, WindowSamples] = {}

    def add(self, record: AttemptRecord) -> None:
        if record.sent_s is None:
            return
        slot = self._slots.get(index := math.floor(record.sent_s / self.width_s))
        if slot is None:
            slot = self._slots[index] = WindowSamples()
        ok = lat.is_ok(record)
        slot.failed.append(0 if ok else 1)
        if record.attempt <= 1:
            slot.requests += 1
        if ok:
            if (ttft := lat.ttft_s(record)) is not None:
                slot.ttft_s.append(ttft)
            if (e2e := lat.e2e_s(record)) is not None:
                slot.e2e_s.append(e2e)
        if self._prices is not None:
            cost = attempt_cost_usd(
                self._prices,
                record.outcome,
                record.model,
                record.deployment,
                (
                    record.prompt_tokens or 0,
                    record.cached_tokens or 0,
                    record.cache_write_tokens or 0,
                    record.completion_tokens or 0,
                ),
            )
            self.add_cost(index, cost, 1)

    def add_cost(self, index: int, cost_usd: float | None, attempts: int) -> None:
        """Bill ``attempts`` attempts of window ``index`` at ``cost_usd`` each (None: unpriced);
        ``add`` does it for its record, ``add_columns`` callers for groups of equal attempts."""
        slot = self._slots.get(index)
        if slot is None:
            slot = self._slots[index] = WindowSamples()
        if cost_usd is None:
            slot.unpriced += attempts
        else:
            slot.cost_usd += cost_usd * attempts

    def add_columns(
        self,
        sent_s: np.ndarray,
        first_attempt: np.ndarray,
        ok: np.ndarray,
        ttft_s: np.ndarray,
        e2e_s: np.ndarray,
    ) -> None:
        """``add`` for a batch of sent attempts as equal-length arrays, in record order (NaN:
        no figure), costs aside (``add_cost``): what ``add`` keeps of each record, in the same
        order within a window, without building a record."""
        index = np.floor(sent_s / self.width_s).astype(np.int64)
        order = np.argsort(index, kind="stable")
        bounds = np.flatnonzero(np.diff(index[order])) + 1
        for rows in np.split(order, bounds) if len(order) else ():
            key = int(index[rows[0]])
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = WindowSamples()
            good = ok[rows].astype(bool)
            slot.failed.frombytes((~good).astype(np.uint8).tobytes())
            slot.requests += int(np.count_nonzero(first_attempt[rows]))
            for values, into in ((ttft_s[rows], slot.ttft_s), (e2e_s[rows], slot.e2e_s)):
                kept = values[good]
                into.frombytes(kept[~np.isnan(kept)].astype(np.float64).tobytes())

    def add_all(self, records: Iterable[AttemptRecord]) -> TimeSlicer:
        for record in records:
            self.add(record)
        return self

    @property
    def indexes(self) -> range:
        """Every window index from the run's start to its last window with an attempt."""
        planned = math.ceil(self.duration_s / self.width_s)
        return range(max(planned, max(self._slots, default=-1) + 1))

    def _span_s(self, index: int) -> float:
        start_s = index * self.width_s
        if start_s < self.duration_s < start_s + self.width_s:
            return self.duration_s - start_s
        return self.width_s

    def windows(self) -> list[Window]:
        found: list[Window] = []
        for index in self.indexes:
            slot = self._slots.get(index) or WindowSamples()
            cost = None if self._prices is None or slot.unpriced else slot.cost_usd
            found.append(
                Window(
                    start_s=index * self.width_s,
                    span_s=self._span_s(index),
                    attempts=len(slot.failed),
                    failed=sum(slot.failed),
                    requests=slot.requests,
                    ttft_p50_ms=_ms(slot.ttft_s, 0.50),
                    ttft_p99_ms=_ms(slot.ttft_s, 0.99),
                    e2e_p50_ms=_ms(slot.e2e_s, 0.50),
                    e2e_p99_ms=_ms(slot.e2e_s, 0.99),
                    cost_usd=cost,
                )
            )
        return found

    def sample_bytes(self) -> int:
        """Bytes of samples the windows hold (what grows with the run)."""
        return sum(
            len(values) * values.itemsize
            for slot in self._slots.values()
            for values in (slot.ttft_s, slot.e2e_s, slot.failed)
        )

    def samples(self, name: str, start_s: float, end_s: float) -> list[float]:
        """The samples of ``name`` (``ttft_s``, ``e2e_s`` or ``failed``) of the windows that
        start in ``[start_s, end_s)``, window by window in time order."""
        out: list[float] = []
        for index in sorted(self._slots):
            if start_s <= index * self.width_s < end_s:
                out.extend(getattr(self._slots[index], name))
        return out


def attempt_cost_usd(
    book: PriceBook,
    outcome: str,
    model: str | None,
    deployment: str | None,
    tokens: tuple[int, int, int, int],
) -> float | None:
    """What one attempt is billed, as ``items_from_records`` prices it (without building an
    item: this runs once per record of a run of millions). ``tokens``: prompt, cached, cache
    write and completion tokens, 0 where unknown."""
    prompt, cached, cache_write, completion = tokens
    billed = billed_tokens(outcome, prompt, cached, cache_write, completion)
    if billed.prompt == 0 and billed.completion == 0:
        return 0.0  # nothing is billed, so a missing price cannot matter
    return book.cost_usd(
        model or UNKNOWN,
        deployment,
        billed.prompt,
        billed.cached,
        billed.completion,
        billed.cache_write,
    )
