"""Figures before, during and after fault windows, and the time to recover."""

from __future__ import annotations

import math

from faults.profile import load_profile
from harness.contract.records import AttemptRecord
from harness.metrics.windows import FaultWindow, recovery_s, window_figures, windows_from_profile


def _record(sent_s: float, ok: bool, ttft_s: float = 0.05) -> AttemptRecord:
    return AttemptRecord(
        request_id=f"r{sent_s}",
        session_id="s",
        turn=1,
        attempt=1,
        scheduled_s=sent_s,
        sent_s=sent_s,
        first_byte_s=sent_s + 0.001,
        first_token_s=sent_s + ttft_s if ok else None,
        done_s=sent_s + ttft_s + 0.1,
        status_code=200 if ok else 503,
        outcome="ok" if ok else "http_5xx",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        usage_source="server",
        model="m",
        deployment="d",
        error_detail=None,
    )


def _run() -> list[AttemptRecord]:
    records = []
    for tenth in range(0, 400):  # 10 attempts a second for 40 s
        t = tenth / 10
        if t < 10:
            records.append(_record(t, ok=True))
        elif t < 20:  # the window: every other attempt fails
            records.append(_record(t, ok=tenth % 2 == 0))
        elif t < 23:  # three seconds of lingering slowness after the window
            records.append(_record(t, ok=True, ttft_s=0.5))
        else:
            records.append(_record(t, ok=True))
    return records


def test_before_during_after_and_recovery() -> None:
    window = FaultWindow(10.0, 20.0, "http_503")
    [figures] = window_figures(_run(), [window])
    assert figures["before"]["attempts"] == 100 and figures["before"]["error_rate"] == 0
    assert figures["during"]["attempts"] == 100 and figures["during"]["error_rate"] == 0.5
    assert figures["after"]["error_rate"] == 0
    assert figures["after"]["ttft_ms"]["max"] > 400
    assert figures["recovery_s"] == 3.0


def test_no_recovery_when_the_run_never_gets_back() -> None:
    records = [r for r in _run() if r.sent_s is not None and r.sent_s < 22]
    assert recovery_s(records, FaultWindow(10.0, 20.0, "x")) is None
    assert recovery_s(_run(), FaultWindow(10.0, math.inf, "x")) is None


def test_windows_come_from_a_profile_merged_by_span() -> None:
    brownout = load_profile("brownout").model_dump(mode="json")
    windows = windows_from_profile(brownout)
    assert [(w.start_s, w.end_s) for w in windows] == [(60.0, 120.0)]
    assert windows[0].label == "delay+http_503+overloaded_529+slow_drip"
    assert windows_from_profile(load_profile("flaky").model_dump(mode="json")) == []
