"""The open loop's plan while a run goes: a scenario and the run's ``plan.jsonl`` path in; the
units the engine sends, drawn lazily (``workloads.plan_stream``), out, with ``plan.jsonl``
written in plan order as they are drawn, and what the run must know before it starts.

Before the run, one counting pass (``plan_stream.outline``, keeping no request) gives:
- the steady phase: the scenario's duration, or, when ``[arrival] requests`` ends the plan,
  the end the whole planner derives (that pass then goes to the plan's end: N requests);
- the requests planned, for the progress display: exact when the pass reached the end, None
  (shown as a bare count) for a plan longer than ``OUTLINE_REQUESTS``;
- the expected peak of attempts in flight that sizes the connection pool, over the requests
  counted (the whole plan, or the first ``OUTLINE_REQUESTS`` of a long one).
After a stop the plan file ends with the last unit drawn: every planned request has its
record, and sessions never drawn are not in the plan.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.client.pool import PeakTracker
from harness.contract.records import PlannedRequest, to_json_line
from workloads.plan_stream import PlanOrder, iter_units, outline
from workloads.scenario import Scenario

#: The counting pass stops here when no ``[arrival] requests`` bounds the plan.
OUTLINE_REQUESTS = 200_000


@dataclass(slots=True)
class PlanFeed:
    """A streamed open-loop plan: ``units()`` for the engine, ``close()`` after the run."""

    #: The scenario, its duration set to the plan's steady phase.
    scenario: Scenario
    #: The engine's steady phase (a plan cut by ``[arrival] requests`` may drain after it).
    engine_duration_s: float
    #: Requests planned, when the counting pass reached the plan's end.
    planned: int | None
    #: Expected peak of attempts in flight over the ``peak_counted`` requests counted.
    peak: int
    peak_counted: int
    path: Path
    written: int = 0
    _order: PlanOrder = field(default_factory=PlanOrder)
    _handle: IO[bytes] | None = None
    _drawn: Iterator[list[PlannedRequest]] | None = None

    def prime(self) -> None:
        """Draw the first unit now, before the run clock starts: a trace is read then, not
        at the run's first instant (where it would show as schedule lag)."""
        units = iter_units(self.scenario)
        first = next(units, None)
        self._drawn = units if first is None else itertools.chain([first], units)

    def units(self) -> Iterator[list[PlannedRequest]]:
        """The plan's units, each written (in plan order, held back where a later unit may
        still hold an earlier request) as it is drawn."""
        self._handle = self.path.open("wb")
        drawn = self._drawn if self._drawn is not None else iter_units(self.scenario)
        for unit in drawn:
            self._write(self._order.add(unit))
            yield unit

    def _write(self, requests: list[PlannedRequest]) -> None:
        if self._handle is None or not requests:
            return
        self._handle.write(b"".join(to_json_line(request) for request in requests))
        self._handle.flush()
        self.written += len(requests)

    def close(self) -> None:
        """Write what the order still holds (every unit drawn is planned) and close."""
        if self._handle is None:
            self.path.write_bytes(b"")
            return
        self._write(self._order.rest())
        self._handle.close()


def open_loop_feed(scenario: Scenario, plan_path: Path, timeout_s: float) -> PlanFeed:
    """Count the plan (see the module docstring) and set up its feed; ``TraceError`` if a
    trace cannot be read."""
    tracker = PeakTracker(timeout_s)
    counted = outline(scenario, OUTLINE_REQUESTS, tracker.observe)
    if counted.duration_s != scenario.duration:  # [arrival] requests ended the plan
        scenario = scenario.model_copy(update={"duration": counted.duration_s})
    # After a plan cut by [arrival] requests, later turns may go on for a drain.
    drain_s = scenario.drain if counted.cut_by_requests else 0.0
    feed = PlanFeed(
        scenario=scenario,
        engine_duration_s=scenario.duration + drain_s,
        planned=counted.requests if counted.complete else None,
        peak=tracker.peak,
        peak_counted=min(counted.requests, OUTLINE_REQUESTS),
        path=plan_path,
    )
    feed.prime()
    return feed


class DrawnWriter:
    """A closed loop's ``plan.jsonl``: each unit written as the loop draws it (draw order, a
    unit in plan order), so a long closed loop keeps no plan in memory either."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._handle: IO[bytes] | None = None

    def wrap(self, units: Iterator[list[PlannedRequest]]) -> Iterator[list[PlannedRequest]]:
        self._handle = self.path.open("wb")
        for unit in units:
            self._handle.write(b"".join(to_json_line(request) for request in unit))
            self._handle.flush()
            self.written += len(unit)
            yield unit

    def close(self) -> None:
        if self._handle is None:
            self.path.write_bytes(b"")
            return
        self._handle.close()
