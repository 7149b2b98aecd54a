from __future__ import annotations

from harness.metrics.validity import ValidityLimits, assess_validity


def test_unmeasured_cpu_is_noted_but_does_not_invalidate() -> None:
    valid, notes = assess_validity(
        schedule_lag_p99_ms=1.0,
        requests_dropped=0,
        requests_sent=10,
        client_cpu_s=None,
        wall_s=None,
        limits=ValidityLimits(),
    )
    assert valid
    assert notes == ["client CPU share was not measured"]


def test_every_failed_check_adds_its_own_note() -> None:
    valid, notes = assess_validity(
        schedule_lag_p99_ms=50.0,
        requests_dropped=3,
        requests_sent=10,
        client_cpu_s=9.9,
        wall_s=10.0,
        limits=ValidityLimits(),
    )
    assert not valid
    assert len(notes) == 3
    assert any("50.0 ms" in note for note in notes)
    assert any("3 planned requests" in note for note in notes)


def test_nothing_sent_is_invalid() -> None:
    valid, notes = assess_validity(
        schedule_lag_p99_ms=None,
        requests_dropped=0,
        requests_sent=0,
        client_cpu_s=0.1,
        wall_s=1.0,
        limits=ValidityLimits(),
    )
    assert not valid
    assert "no request was sent" in notes[0]


def test_the_schedule_lag_note_says_what_lag_does_to_each_figure() -> None:
    # At 1,600 req/s TTFT read 95.7 ms against the mock's 50.8: lag inflates, never understates.
    _, notes = assess_validity(
        schedule_lag_p99_ms=95.7,
        requests_dropped=0,
        requests_sent=10,
        client_cpu_s=1.0,
        wall_s=10.0,
        limits=ValidityLimits(),
        achieved_rps=1480.0,
        target_rps=1600.0,
    )
    [note] = notes
    assert "understated" not in note
    assert "inflated" in note
    assert "corrected TTFT and E2E include the lag" in note
    assert "achieved rate (1,480.0/s) is below the plan (1,600.0/s)" in note


def test_the_schedule_lag_note_without_rates_still_names_the_rate() -> None:
    _, notes = assess_validity(
        schedule_lag_p99_ms=50.0,
        requests_dropped=0,
        requests_sent=10,
        client_cpu_s=1.0,
        wall_s=10.0,
        limits=ValidityLimits(),
    )
    assert "may fall short of the plan" in notes[0]
