"""The open loop's plan while a run goes: a scenario and the run's ``plan.jsonl`` path in; the
units the engine sends, drawn lazily (``workloads.plan_stream``), out, with ``plan.jsonl``
written in plan order as they are drawn, and what the run must know before it starts;
``work_of`` sets up what the engine sends, open loop or closed.

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
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.client.pool import PeakTracker
from harness.contract.records import PlannedRequest, to_json_line
from harness.engine import Engine
from harness.run_dir import RunPaths
from harness.store.appender import StoreFullError, check_free_space
from harness.upstream_files import RunError
from workloads.closed_loop import CLOSED_LOOP, session_units
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
    #: Requests the whole plan is expected to hold (exact when ``planned`` is known, else
    #: scaled from the counted requests' span to the duration), and their mean ``max_tokens``:
    #: what the disk check before the run weighs.
    estimated_requests: int = 0
    mean_max_tokens: float = 0.0
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
    seen = [0, 0.0, 0.0]  # requests observed, their max_tokens, the last one's offset

    def observe(request: PlannedRequest) -> None:
        seen[0] += 1
        seen[1] += request.max_tokens
        seen[2] = request.offset_s
        tracker.observe(request)

    counted = outline(scenario, OUTLINE_REQUESTS, observe)
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
        estimated_requests=(
            counted.requests
            if counted.complete
            else int(seen[0] * scenario.duration / max(seen[2], 1e-9))
        ),
        mean_max_tokens=seen[1] / seen[0] if seen[0] else 0.0,
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


@dataclass(slots=True)
class Work:
    """What the engine sends: the open loop's streamed plan, or the closed loop's units drawn
    as slots free; ``feed`` writes plan.jsonl as they are drawn either way."""

    scenario: Scenario
    #: The engine's steady phase (with [arrival] requests, the drain may follow a cut plan).
    engine_duration_s: float
    send: Callable[[Engine], Coroutine[Any, Any, float]]
    #: Requests planned, for the progress display (None: not known ahead).
    planned: int | None
    feed: PlanFeed | DrawnWriter
    closed_loop: bool = False
    #: A closed loop of ``[arrival] requests`` without a duration: the steady phase is then
    #: what the requests took, until the last one ended.
    open_ended: bool = False


def work_of(scenario: Scenario, plan_path: Path) -> Work:
    if scenario.arrival.process != CLOSED_LOOP:
        feed = open_loop_feed(scenario, plan_path, scenario.target.timeout)
        return Work(
            feed.scenario,
            feed.engine_duration_s,
            lambda e: e.run_units(feed.units()),
            feed.planned,
            feed,
        )
    drawn = DrawnWriter(plan_path)
    requests = scenario.arrival.requests
    concurrency = scenario.arrival.concurrency or 1
    open_ended = requests is not None and "duration" not in scenario.model_fields_set
    # Open-ended, the time bound is every request taking its whole timeout, one after another.
    bound_s = (requests or 0) * scenario.target.timeout * scenario.client.retry.attempts
    return Work(
        scenario,
        bound_s if open_ended else scenario.duration,
        lambda e: e.run_closed_loop(drawn.wrap(session_units(scenario)), concurrency),
        requests,
        drawn,
        closed_loop=True,
        open_ended=open_ended,
    )


#: Why ``--engine locust`` refuses a closed loop, and what to do instead (one line).
LOCUST_CLOSED_LOOP = (
    "--engine locust sends open-loop plans only: its workers hold sessions at planned times, "
    "not N requests kept in flight, so the closed loop (--concurrency, [arrival] concurrency) "
    "runs on the asyncio engine: drop --engine locust, or give an arrival rate (--rate) instead"
)


def check_space(paths: RunPaths, feed: PlanFeed | DrawnWriter) -> None:
    """Refuse, before sending, a run whose records the disk cannot hold (one line), from the
    counting pass's estimate (a closed loop draws as it goes: not checked ahead)."""
    if not isinstance(feed, PlanFeed) or not feed.estimated_requests:
        return
    try:
        check_free_space(paths.root, feed.estimated_requests, feed.mean_max_tokens)
    except StoreFullError as exc:
        raise RunError(str(exc)) from None


def open_loop_of(work: Work) -> PlanFeed:
    """The streamed plan ``--engine locust`` deals to its workers; ``RunError``
    (``LOCUST_CLOSED_LOOP``) for a closed loop, which draws as it goes."""
    feed = work.feed
    if not isinstance(feed, PlanFeed):
        raise RunError(LOCUST_CLOSED_LOOP)
    return feed
