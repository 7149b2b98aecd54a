"""A closed loop's summary: no planned rate to fall short of, and a note on what it hides."""

from __future__ import annotations

from harness.contract.terms import Slo
from harness.cost import load_price_book
from harness.metrics.summary import CLOSED_LOOP_NOTE, SummaryInputs, summarize


def _summary(concurrency: int | None) -> dict[str, object]:
    return summarize(
        SummaryInputs(
            run_id="r",
            duration_s=1.0,
            plan=[],
            records=[],
            ledger=None,
            prices=load_price_book({}),
            slo=Slo(),
            client_cpu_s=None,
            wall_s=None,
            concurrency=concurrency,
        )
    )


def test_closed_loop_has_no_target_rate_and_says_why_open_loop_is_the_default() -> None:
    closed = _summary(4)
    assert closed["concurrency"] == 4 and closed["target_rps"] is None
    notes = [str(n) for n in closed["notes"]]  # type: ignore[attr-defined]
    assert CLOSED_LOOP_NOTE.format(n=4) in notes
    assert "coordinated omission" in CLOSED_LOOP_NOTE and "Open loop is the default" in (
        CLOSED_LOOP_NOTE
    )
    opened = _summary(None)
    assert opened["concurrency"] is None and opened["target_rps"] is not None
    assert not any("closed loop" in str(n) for n in opened["notes"])  # type: ignore[attr-defined]
