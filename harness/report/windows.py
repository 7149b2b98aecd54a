"""The fault-window part of the reports: a summary's ``fault_windows`` in; the spans to shade
on time charts and a before / during / after table with the recovery time, out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report import formatting as fmt

Span = tuple[float, float | None, str]

WINDOW_HEADER = (
    "fault window",
    "phase",
    "attempts",
    "error rate",
    "TTFT p50",
    "TTFT p99",
    "E2E p99",
    "recovered after",
)


def spans(summary: Mapping[str, Any]) -> list[Span]:
    """(start_s, end_s or None for open-ended, label) of each fault window."""
    found: list[Span] = []
    for window in summary.get("fault_windows") or ():
        if isinstance(window, Mapping):
            end = window.get("end_s")
            found.append(
                (
                    float(window["start_s"]),
                    None if end is None else float(end),
                    str(window.get("label", "fault")),
                )
            )
    return found


def _recovery(window: Mapping[str, Any]) -> str:
    if window.get("end_s") is None:
        return "open-ended"
    value = window.get("recovery_s")
    return "not within the run" if value is None else f"{value:g} s"


def window_rows(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for window in summary.get("fault_windows") or ():
        end = window.get("end_s")
        name = (
            f"{window.get('label')} {window['start_s']:g}–"
            f"{'end' if end is None else format(end, 'g')} s"
        )
        for phase in ("before", "during", "after"):
            figures = window.get(phase) or {}
            ttft, e2e = figures.get("ttft_ms") or {}, figures.get("e2e_ms") or {}
            rows.append(
                (
                    name if phase == "before" else "",
                    phase,
                    fmt.count(figures.get("attempts")),
                    fmt.share(figures.get("error_rate")),
                    fmt.ms(ttft.get("p50")),
                    fmt.ms(ttft.get("p99")),
                    fmt.ms(e2e.get("p99")),
                    _recovery(window) if phase == "after" else "",
                )
            )
    return rows
