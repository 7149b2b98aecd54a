"""Fault windows in the reports: the table rows and the shaded spans."""

from __future__ import annotations

from harness.report.windows import spans, window_rows

SUMMARY = {
    "fault_windows": [
        {
            "label": "http_503",
            "start_s": 10.0,
            "end_s": 20.0,
            "recovery_s": 3.0,
            "before": {
                "attempts": 100,
                "error_rate": 0.0,
                "ttft_ms": {"p50": 50.0, "p99": 52.0},
                "e2e_ms": {"p99": 150.0},
            },
            "during": {
                "attempts": 100,
                "error_rate": 0.5,
                "ttft_ms": {"p50": 51.0, "p99": 55.0},
                "e2e_ms": {"p99": 160.0},
            },
            "after": {
                "attempts": 200,
                "error_rate": 0.0,
                "ttft_ms": {"p50": 60.0, "p99": 500.0},
                "e2e_ms": {"p99": 600.0},
            },
        },
        {
            "label": "down",
            "start_s": 30.0,
            "end_s": None,
            "recovery_s": None,
            "before": {},
            "during": {},
            "after": {},
        },
    ]
}


def test_window_rows_show_each_phase_and_the_recovery() -> None:
    rows = window_rows(SUMMARY)
    assert [r[1] for r in rows] == ["before", "during", "after"] * 2
    assert rows[0][0] == "http_503 10–20 s" and rows[1][0] == rows[2][0] == ""
    assert rows[1][3].startswith("50")
    assert rows[2][-1] == "3 s" and rows[5][-1] == "open-ended"


def test_spans_keep_open_ended_windows_open() -> None:
    assert spans(SUMMARY) == [(10.0, 20.0, "http_503"), (30.0, None, "down")]
    assert spans({}) == []
