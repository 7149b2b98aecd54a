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
