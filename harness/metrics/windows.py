"""Figures around fault windows: attempt records and the windows a fault profile declared in;
for each window, the figures before, during and after it and the time to recover, out.

Recovery: the baseline is what attempts sent before the window saw (share of ok answers, TTFT
p50). After the window ends, the run has recovered at the start of the first 1-second bin from
which ``settle_bins`` consecutive non-empty bins all do as well as the baseline allows (ok share
at least baseline - ``ok_slack``, TTFT p50 at most ``ttft_factor`` x baseline). ``None`` when
that never happens before the records end.

Clocks: records count from the engine's start. A run that named its upstream's ledger tells
that mock or proxy its start (``POST /tokenstorm/runs``), and the upstream's windows are then
on the records' clock (``offset_s`` 0). Otherwise a tokenstorm mock or proxy times a window
from the first request of the run it receives (the run id of its headers, or the mock reads
it from the prompt tag), and the window is moved onto the records' clock by the first
attempt's send time (``offset_s``); ``start_s`` and ``end_s`` stay as the profile declared
them. Without any run id the upstream counts from its own start, which no record shows: the
figures are then only as right as that offset is small.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.contract.records import AttemptRecord
from harness.metrics.percentiles import stats_ms


@dataclass(frozen=True, slots=True)
class FaultWindow:
    start_s: float
    end_s: float
    label: str


def windows_from_profile(profile: Mapping[str, Any]) -> list[FaultWindow]:
    """Windows of a fault profile (as served at /tokenstorm/faults) that start or end within
    the run; an always-on rule is no window. Rules sharing a window are merged."""
    found: dict[tuple[float, float], list[str]] = {}
    for rule in profile.get("rule") or ():
        window = rule.get("window") or {}
        start, end = float(window.get("start") or 0.0), window.get("end")
        if end is None and start <= 0:
            continue
        key = (start, math.inf if end is None else float(end))
        found.setdefault(key, []).append(str(rule.get("kind")))
    return [
        FaultWindow(start, end, "+".join(sorted(set(kinds))))
        for (start, end), kinds in sorted(found.items())
    ]


def _phase(records: Sequence[AttemptRecord]) -> dict[str, Any]:
    ok = [r for r in records if r.outcome == "ok"]
    ttft = [
        r.first_token_s - r.sent_s
        for r in ok
        if r.first_token_s is not None and r.sent_s is not None
    ]
    e2e = [r.done_s - r.sent_s for r in ok if r.done_s is not None and r.sent_s is not None]
    return {
        "attempts": len(records),
        "ok": len(ok),
        "error_rate": (1 - len(ok) / len(records)) if records else None,
        "ttft_ms": stats_ms(ttft),
        "e2e_ms": stats_ms(e2e),
    }


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def recovery_s(
    sent: Sequence[AttemptRecord],
    window: FaultWindow,
    *,
    settle_bins: int = 3,
    ok_slack: float = 0.05,
    ttft_factor: float = 1.5,
) -> float | None:
    """Seconds from the window's end until the run does as well as before it (see module)."""
    before = [r for r in sent if r.sent_s is not None and r.sent_s < window.start_s]
    if not before or math.isinf(window.end_s):
        return None
    ok_before = sum(r.outcome == "ok" for r in before) / len(before)
    ttft_before = _median(
        [
            r.first_token_s - r.sent_s
            for r in before
            if r.outcome == "ok" and r.first_token_s is not None and r.sent_s is not None
        ]
    )
    bins: dict[int, list[AttemptRecord]] = {}
    for record in sent:
        if record.sent_s is not None and record.sent_s >= window.end_s:
            bins.setdefault(int(record.sent_s - window.end_s), []).append(record)

    def healthy(records: list[AttemptRecord]) -> bool:
        ok_share = sum(r.outcome == "ok" for r in records) / len(records)
        ttft = _median(
            [
                r.first_token_s - r.sent_s
                for r in records
                if r.outcome == "ok" and r.first_token_s is not None and r.sent_s is not None
            ]
        )
        slow = ttft_before is not None and ttft is not None and ttft > ttft_factor * ttft_before
        return ok_share >= ok_before - ok_slack and not slow

    order = sorted(bins)
    for index, second in enumerate(order):
        following = order[index : index + settle_bins]
        if len(following) == settle_bins and all(healthy(bins[b]) for b in following):
            return float(second)
    return None


def window_figures(
    records: Sequence[AttemptRecord],
    windows: Sequence[FaultWindow],
    start_announced: bool = False,
) -> list[dict[str, Any]]:
    """Before / during / after figures and recovery time for each window (see the module
    docstring for the clock the windows are read on; ``start_announced``: the upstream
    was told the run's start)."""
    sent = [r for r in records if r.sent_s is not None]
    first_sent_s = min((r.sent_s for r in sent if r.sent_s is not None), default=0.0)
    offset_s = 0.0 if start_announced else first_sent_s
    figures = []
    for declared in windows:
        window = replace(
            declared, start_s=declared.start_s + offset_s, end_s=declared.end_s + offset_s
        )

        def in_phase(record: AttemptRecord, lo: float, hi: float) -> bool:
            return record.sent_s is not None and lo <= record.sent_s < hi

        figures.append(
            {
                "label": window.label,
                "start_s": declared.start_s,
                "end_s": None if math.isinf(declared.end_s) else declared.end_s,
                "offset_s": round(offset_s, 6),
                "before": _phase([r for r in sent if in_phase(r, -math.inf, window.start_s)]),
                "during": _phase([r for r in sent if in_phase(r, window.start_s, window.end_s)]),
                "after": _phase([r for r in sent if in_phase(r, window.end_s, math.inf)]),
                "recovery_s": recovery_s(sent, window),
            }
        )
    return figures
