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

import numpy as np

from harness.contract.records import AttemptRecord
from harness.metrics.percentiles import stats


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


def phase_figures(
    attempts: int, ttft_ok_s: Sequence[float], e2e_ok_s: Sequence[float], ok: int
) -> dict[str, Any]:
    """One phase's figures: its sent attempts, those ok, and the TTFT and E2E of the ok ones."""
    return {
        "attempts": attempts,
        "ok": ok,
        "error_rate": (1 - ok / attempts) if attempts else None,
        "ttft_ms": stats(np.asarray(ttft_ok_s, np.float64), scale=1000.0),
        "e2e_ms": stats(np.asarray(e2e_ok_s, np.float64), scale=1000.0),
    }


def _phase(records: Sequence[AttemptRecord]) -> dict[str, Any]:
    ok = [r for r in records if r.outcome == "ok"]
    ttft = [
        r.first_token_s - r.sent_s
        for r in ok
        if r.first_token_s is not None and r.sent_s is not None
    ]
    e2e = [r.done_s - r.sent_s for r in ok if r.done_s is not None and r.sent_s is not None]
    return phase_figures(len(records), ttft, e2e, len(ok))


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


#: One sent attempt as recovery reads it: its send time, whether it was ok, and its TTFT
#: (None unless ok with a first token).
Sent = tuple[float, bool, float | None]


def _sent(record: AttemptRecord) -> Sent:
    ok = record.outcome == "ok"
    ttft = (
        record.first_token_s - record.sent_s
        if ok and record.first_token_s is not None and record.sent_s is not None
        else None
    )
    return (record.sent_s or 0.0, ok, ttft)


def recovery_s(
    sent: Sequence[AttemptRecord],
    window: FaultWindow,
    *,
    settle_bins: int = 3,
    ok_slack: float = 0.05,
    ttft_factor: float = 1.5,
) -> float | None:
    """Seconds from the window's end until the run does as well as before it (see module)."""
    attempts = [_sent(r) for r in sent if r.sent_s is not None]
    before = [a for a in attempts if a[0] < window.start_s]
    if not before or math.isinf(window.end_s):
        return None
    ok_share = sum(ok for _, ok, _ in before) / len(before)
    base = Baseline(ok_share, _median([t for _, _, t in before if t is not None]))
    after = [a for a in attempts if a[0] >= window.end_s]
    health = bin_health(after, window, base, ok_slack=ok_slack, ttft_factor=ttft_factor)
    return first_settled(health, settle_bins)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What attempts sent before a window saw: their share of ok answers, TTFT p50 of those."""

    ok_share: float
    ttft_p50_s: float | None


def bin_health(
    after: Sequence[Sent],
    window: FaultWindow,
    base: Baseline,
    *,
    ok_slack: float = 0.05,
    ttft_factor: float = 1.5,
) -> dict[int, bool]:
    """For each non-empty 1-second bin from the window's end (attempts sent from then on),
    whether it did as well as ``base`` allows. Bins depend only on their own attempts, so a
    caller may give the attempts whole bins at a time (every attempt of a bin in one call)
    and merge the answers."""
    bins: dict[int, list[Sent]] = {}
    for attempt in after:
        bins.setdefault(int(attempt[0] - window.end_s), []).append(attempt)
    health: dict[int, bool] = {}
    for second, attempts in bins.items():
        ok_share = sum(ok for _, ok, _ in attempts) / len(attempts)
        ttft = _median([t for _, _, t in attempts if t is not None])
        slow = (
            base.ttft_p50_s is not None
            and ttft is not None
            and ttft > ttft_factor * base.ttft_p50_s
        )
        health[second] = ok_share >= base.ok_share - ok_slack and not slow
    return health


def first_settled(health: Mapping[int, bool], settle_bins: int = 3) -> float | None:
    """The first non-empty bin from which ``settle_bins`` consecutive non-empty bins are all
    healthy, in seconds from the window's end; None when there is none. Given the bins of
    the first seconds only, an answer is the answer for all of them (its bins are in)."""
    order = sorted(health)
    for index, second in enumerate(order):
        following = order[index : index + settle_bins]
        if len(following) == settle_bins and all(health[b] for b in following):
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
