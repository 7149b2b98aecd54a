"""The sweep's answer from its steps: repeats vote (a tie misses), the frontier finds the first
crossing of each p99 limit, and the figures a budget gates on."""

from __future__ import annotations

from harness.capacity.sweep_result import Step, frontier, pooled, result_figures
from harness.capacity.sweep_search import Outcome


def _step(
    value: float, p99_ms: float | None, outcome: Outcome = Outcome.MEETS, repeat: int = 0
) -> Step:
    return Step(
        value,
        repeat,
        outcome,
        f"v{value:g}",
        {"e2e_p99_ms": p99_ms, "achieved_rps": value * 0.98, "goodput_rps": value * 0.9},
    )


def test_repeats_vote_a_tie_misses_and_one_invalid_repeat_spoils_the_value() -> None:
    steps = [
        _step(10, 1, Outcome.MEETS, 0),
        _step(10, 1, Outcome.MISSES, 1),
        _step(20, 1, Outcome.MEETS, 0),
        _step(20, 1, Outcome.MEETS, 1),
        _step(20, 1, Outcome.MISSES, 2),
        _step(30, 1, Outcome.MEETS, 0),
        _step(30, 1, Outcome.INVALID, 1),
    ]
    assert pooled(steps) == [(10, Outcome.MISSES), (20, Outcome.MEETS), (30, Outcome.INVALID)]


def test_the_frontier_takes_the_first_crossing_and_says_what_bounds_it() -> None:
    steps = [
        _step(10, 100),
        _step(20, 300),
        _step(40, 250),  # noise: under again after a crossing
        _step(80, None),  # nothing succeeded: counts as over
        _step(160, 10, Outcome.INVALID),  # never part of the frontier
    ]
    rows = {row["limit_ms"]: row for row in frontier(steps, "e2e", [50, 200, 400, 10_000])}
    assert (rows[50]["value"], rows[50]["bound"]) == (None, "below")
    assert (rows[200]["value"], rows[200]["first_over"], rows[200]["bound"]) == (
        10,
        20,
        "bracketed",
    )
    assert (rows[400]["value"], rows[400]["first_over"]) == (40, 80)
    assert rows[10_000]["value"] == 40 and rows[10_000]["bound"] == "bracketed"
    assert rows[200]["achieved_rps"] == 10 * 0.98


def test_result_figures_read_the_answer_and_never_an_invalid_step() -> None:
    steps = [_step(10, 1), _step(20, 1), _step(40, 1, Outcome.INVALID)]
    figures = result_figures(steps, {"value": 20}, "rate")
    assert figures["max_rate_meeting_slo"] == 20
    assert figures["max_concurrency_meeting_slo"] is None
    assert figures["max_rps_meeting_slo"] == 20 * 0.98
    assert figures["max_goodput_rps"] == 20 * 0.9  # the invalid step's 36 is not counted
    assert figures["invalid_run"] == "v40"
    closed = result_figures(steps[:2], {"value": 20}, "concurrency")
    assert closed["max_concurrency_meeting_slo"] == 20 and closed["max_rate_meeting_slo"] is None
