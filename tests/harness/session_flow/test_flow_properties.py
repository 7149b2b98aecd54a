"""Invariants of the session flow over random plans, scripts and deadlines (hypothesis, on
the fake clock): every planned request ends with exactly one record series (attempts 1..n,
at most the policy's), nothing stays held or counted in flight, the live counters agree
with the records; and the flow is sans I/O: it imports no clock, socket or event loop, and
loading it loads no engine, HTTP client or event loop."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.outcomes import Outcome
from harness.contract.records import PlannedRequest
from tests.harness.session_flow.fake_driver import FakeDriver, config
from tests.harness.test_engine_subagents import _turn as request

FLOW = Path(__file__).resolve().parents[3] / "harness" / "session_flow"


@st.composite
def _plans(draw: st.DrawFn) -> list[PlannedRequest]:
    """Root sessions of 1-4 turns, some turns spawning sub-agents the next turn waits for."""
    plan: list[PlannedRequest] = []
    for index in range(draw(st.integers(1, 6))):
        root, offset_s = f"r{index}", draw(st.floats(0, 8))
        children: list[str] = []
        for turn in range(1, draw(st.integers(1, 4)) + 1):
            think_s = draw(st.floats(0, 2)) if turn > 1 else 0.0
            plan.append(request(root, turn, offset_s, think_s, waits_for=tuple(children)))
            children = [f"{root}-c{turn}-{k}" for k in range(draw(st.integers(0, 2)))]
            for child in children:
                for child_turn in range(1, draw(st.integers(1, 2)) + 1):
                    spawned_by = f"{root}-t{turn}" if child_turn == 1 else ""
                    plan.append(request(child, child_turn, offset_s, 0.1, spawned_by=spawned_by))
    return plan


@settings(max_examples=150, deadline=None)
@given(
    plan=_plans(),
    fail_every=st.integers(2, 6),
    attempts=st.integers(1, 3),
    duration_s=st.floats(1, 12),
    stop_s=st.none() | st.floats(0, 12),
    slow_every=st.integers(3, 9),
)
def test_every_planned_request_ends_with_one_series_of_attempts(
    plan: list[PlannedRequest],
    fail_every: int,
    attempts: int,
    duration_s: float,
    stop_s: float | None,
    slow_every: int,
) -> None:
    calls = iter(range(100_000))

    def script(_request_id: str, _attempt: int) -> tuple[Outcome, float, float | None]:
        call = next(calls)
        latency_s = 30.0 if call % slow_every == 0 else 0.7  # some still in flight at the end
        failed = call % fail_every == 0
        return (Outcome.HTTP_5XX if failed else Outcome.OK), latency_s, None

    driver = FakeDriver(script, config(duration_s, 2.0, attempts), stop_s=stop_s)
    records = driver.run(plan)
    series: dict[str, list[int]] = {}
    for record in records:
        series.setdefault(record.request_id, []).append(record.attempt)
    assert sorted(series) == sorted(r.request_id for r in plan)
    for numbers in series.values():
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) <= attempts
    stats, flow = driver.stats, driver.flow
    assert len(flow) == 0 and flow.running == 0 and stats.in_flight == 0
    sent = [r for r in records if r.sent_s is not None]
    assert len(sent) == len(driver.sent)  # every attempt sent has one record
    answered = [r for r in sent if r.outcome != "cancelled"]  # not cut in flight
    assert stats.sent == len(answered)
    finals = {r.request_id: r for r in answered}  # the last answered attempt of each request
    ok = sum(r.outcome == "ok" for r in finals.values())
    # Every ok request is done; failed ones too, unless the deadline cut their retry's wait.
    assert stats.requests_done - stats.requests_failed == ok
    assert stats.requests_done <= len(finals)
    for record in sent:  # nothing is sent before it is due, nor after a stop
        assert record.sent_s is not None and record.sent_s >= record.scheduled_s
        assert stop_s is None or record.sent_s <= stop_s + 1e-6  # records keep 6 decimals


#: What the flow's own modules may import: no clock, no sockets, no event loop.
_SANS_IO = ("__future__", "collections", "dataclasses", "typing", "numpy", "harness.contract")
_SANS_IO_OURS = ("harness.client.exchange", "harness.engine_config", "harness.retry")


def test_the_flow_imports_no_clock_socket_or_event_loop() -> None:
    imported = set()
    for path in FLOW.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    allowed = (*_SANS_IO, *_SANS_IO_OURS, "harness.session_flow")
    assert imported and {m for m in imported if not m.startswith(allowed)} == set()
    probe = (
        "import sys, harness.session_flow.flow; "
        "print(sorted(m for m in ('asyncio', 'gevent', 'aiohttp', 'uvloop', 'zmq', "
        "'harness.engine', 'harness.locust', 'harness.client.http') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout + found.stderr
