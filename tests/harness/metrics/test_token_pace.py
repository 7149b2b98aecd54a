"""ITL when the client reads tokens in batches: withheld if the client fell behind, kept with a
remark if the batching happened upstream; on synthetic records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.contract.records import AttemptRecord
from harness.contract.terms import Slo
from harness.cost import PriceBook
from harness.metrics import SummaryInputs, summarize
from harness.metrics.token_pace import client_behind, itl_figures, same_read_share


def _batched_times(start_s: float, tokens: int, per_read: int, read_every_s: float) -> list[float]:
    """Content event times of a stream whose client read ``per_read`` tokens at a time."""
    return [round(start_s + (k // per_read) * read_every_s, 6) for k in range(tokens)]


def _stream(
    ok: Callable[..., AttemptRecord], request_id: str, times: list[float], lag_s: float
) -> AttemptRecord:
    # A server pace of 10 ms per token, read 4 at a time every 40 ms: gaps 0, 0, 0, 40 ms.
    return ok(
        request_id,
        scheduled_s=1.0 - lag_s,
        sent_s=1.0,
        first_token_s=times[0],
        token_times_s=tuple(times[1:]),
        done_s=times[-1] + 0.001,
        completion_tokens=len(times),
    )


def _summary(book: PriceBook, make: Any, records: list[AttemptRecord], cpu_s: float) -> Any:
    return summarize(
        SummaryInputs(
            run_id="run",
            duration_s=10.0,
            plan=[make.planned(r.request_id) for r in records],
            records=records,
            ledger=None,
            prices=book,
            slo=Slo(),
            client_cpu_s=cpu_s,
            wall_s=10.0,
        )
    )


def test_same_read_share_counts_gaps_under_a_microsecond() -> None:
    assert same_read_share([0.0, 0.0, 0.0, 0.04]) == pytest.approx(0.75)
    assert same_read_share([]) is None


def test_itl_of_a_client_that_fell_behind_and_read_in_batches_is_withheld(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        _stream(ok, f"r{i}", _batched_times(1.05 + i, 40, 4, 0.04), lag_s=0.05) for i in range(5)
    ]
    summary = _summary(book, make, records, cpu_s=1.0)
    # 30 of 39 gaps per stream are 0, so the p50 read 0.0 ms where the server took 10 ms.
    assert summary["itl_same_read_share"] == pytest.approx(30 / 39)
    assert summary["itl_ms"]["p50"] is None and summary["itl_ms"]["p99"] is None
    assert summary["itl_ms"]["count"] == 5 * 39
    [note] = [n for n in summary["validity_notes"] if n.startswith("ITL withheld")]
    assert "schedule lag p99 50.0 ms" in note
    # TPOT keeps the stream's pace: 39 gaps over 0.36 s.
    assert summary["tpot_ms"]["p50"] == pytest.approx(360 / 39, rel=1e-3)


def test_a_saturated_cpu_is_enough_to_withhold_batched_itl() -> None:
    gaps = [0.0, 0.0, 0.0, 0.04] * 10
    figures = itl_figures(gaps, client_behind(1.0, 0.97, 10.0, 0.9))
    assert figures.itl_ms["p50"] is None
    assert figures.withheld_because is not None and "CPU share 97%" in figures.withheld_because


def test_batched_delivery_while_the_client_kept_up_is_kept_with_a_remark(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        _stream(ok, f"r{i}", _batched_times(1.05 + i, 40, 4, 0.04), lag_s=0.0) for i in range(5)
    ]
    summary = _summary(book, make, records, cpu_s=1.0)
    assert summary["itl_ms"]["p50"] == 0.0
    assert not any("ITL withheld" in n for n in summary["validity_notes"])
    assert any("sends tokens in batches" in n for n in summary["notes"])


def test_a_lagging_client_that_still_read_token_by_token_keeps_its_itl(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        _stream(ok, f"r{i}", _batched_times(1.05 + i, 40, 1, 0.01), lag_s=0.05) for i in range(5)
    ]
    summary = _summary(book, make, records, cpu_s=1.0)
    assert summary["itl_same_read_share"] == 0
    assert summary["itl_ms"]["p50"] == pytest.approx(10.0)
    remarks = summary["validity_notes"] + summary["notes"]
    assert not any("ITL withheld" in n or "in batches" in n for n in remarks)
