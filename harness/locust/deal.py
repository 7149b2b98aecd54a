"""Dealing a streamed plan to workers, by unit: a unit (a session with every sub-agent session
below its turns, ``workloads.plan_stream``) goes whole to one worker, since a parent's turn
starts its sub-agents and may wait for them, which only one engine can do.

Units come in order of their first offset and are dealt, in that order, to the worker with the
fewest requests so far (of those still alive), so workers carry about the same load at every
moment. ``PlanWindows`` draws them lazily, a window at a time: the master holds only the units
it is about to send. Pure: no clock, no network.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.contract.records import PlannedRequest

Unit = list[PlannedRequest]


class Dealer:
    """Which worker takes the next unit: the alive one with the fewest requests so far."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        #: Requests dealt to each worker so far.
        self.assigned = [0] * workers
        self._alive = set(range(workers))

    @property
    def any_alive(self) -> bool:
        return bool(self._alive)

    def deal(self, unit: Unit) -> int:
        """The worker that takes ``unit``; ``ValueError`` when every worker is retired."""
        if not self._alive:
            raise ValueError("no worker is left to deal to")
        lightest = min(self._alive, key=lambda i: (self.assigned[i], i))
        self.assigned[lightest] += len(unit)
        return lightest

    def retire(self, worker: int) -> None:
        """``worker`` is gone: no more units for it."""
        self._alive.discard(worker)


class PlanWindows:
    """The plan's units drawn lazily (ordered by first offset), a window at a time.

    ``take(until_s)`` gives the units whose first offset is before ``until_s``. Once the next
    unit starts at or after ``duration_s`` (a trace longer than the run), every unit left
    comes at once: a worker records them as never started, as the asyncio engine does."""

    def __init__(self, units: Iterator[Unit], duration_s: float) -> None:
        self._units = units
        self._duration_s = duration_s
        self._next: Unit | None = None
        #: Every unit of the plan has been taken.
        self.exhausted = False

    def _peek(self) -> Unit | None:
        if self._next is None and not self.exhausted:
            unit = next(self._units, None)
            while unit is not None and not unit:  # an empty unit holds nothing to send
                unit = next(self._units, None)
            if unit is None:
                self.exhausted = True
            self._next = unit
        return self._next

    def held(self) -> Unit:
        """The unit drawn to look ahead and not taken (empty when none); let go of it."""
        unit, self._next = self._next or [], None
        return unit

    def take(self, until_s: float) -> Iterator[Unit]:
        """The units starting before ``until_s`` (all that is left past the run's end), drawn
        one by one as the caller goes: stop iterating and the rest stays undrawn."""
        while (unit := self._peek()) is not None:
            first_s = unit[0].offset_s
            if first_s >= until_s and first_s < self._duration_s:
                return
            self._next = None
            yield unit
