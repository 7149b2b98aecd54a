from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from harness.contract.records import AttemptRecord
from harness.metrics import latency as lat


def test_timings_are_differences_of_the_recorded_times(make: Any) -> None:
    record = make.attempt("r", scheduled_s=10.0, sent_s=10.25, first_token_s=10.75, done_s=12.0)
    assert lat.schedule_lag_s(record) == 0.25
    assert lat.ttft_s(record) == 0.5
    assert lat.ttft_corrected_s(record) == 0.75
    assert lat.e2e_s(record) == 1.75
    assert lat.e2e_corrected_s(record) == 2.0


def test_an_unsent_attempt_has_no_timings(make: Any) -> None:
    record = make.attempt("r", outcome="dropped", sent_s=None)
    assert lat.schedule_lag_s(record) is None
    assert lat.ttft_s(record) is None
    assert lat.e2e_s(record) is None
    assert not lat.is_sent(record)
    assert not lat.is_ok(record)


def test_itl_gaps_include_the_gap_after_the_first_token(make: Any) -> None:
    record = make.attempt("r", first_token_s=1.0, token_times_s=(1.5, 1.75, 2.75))
    assert lat.itl_gaps_s(record) == [0.5, 0.25, 1.0]
    assert lat.last_token_s(record) == 2.75


def test_single_token_stream_has_no_gap_and_no_tpot(make: Any) -> None:
    record = make.attempt("r", first_token_s=1.0, completion_tokens=1)
    assert lat.itl_gaps_s(record) == []
    assert lat.last_token_s(record) == 1.0
    assert lat.tpot_s(record) is None


def test_tpot_divides_the_decode_span_by_tokens_after_the_first(make: Any) -> None:
    # Five usage tokens arrived in three events spanning 2 s: 2 s / (5 - 1).
    record = make.attempt("r", first_token_s=1.0, token_times_s=(2.0, 3.0), completion_tokens=5)
    assert lat.tpot_s(record) == 0.5


def test_tpot_falls_back_to_the_event_count_without_usage(make: Any) -> None:
    record = make.attempt("r", first_token_s=1.0, token_times_s=(2.0, 3.0), completion_tokens=None)
    assert lat.output_tokens(record) == 3
    tpot = lat.tpot_s(record)
    assert tpot is not None and math.isclose(tpot, 1.0)


def test_ok_requires_a_sent_attempt(ok: Callable[..., AttemptRecord]) -> None:
    assert lat.is_ok(ok("r"))
    assert not lat.is_ok(ok("r", outcome="stream_cut"))
