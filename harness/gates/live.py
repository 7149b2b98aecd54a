"""Abort-on-fail: a budget's ``abort_on_fail`` checks and the run's live figures in, the first
check that has already failed out (or None), plus the gate row that records the abort.

Live figures are the engine's counters and the latency histograms ``LiveTrends`` fills from
the attempt records as they are written. A counter (``requests_failed``, ``requests_ok``,
``requests_sent``, ``client_attempts``, ``requests_dropped``) only grows, so an upper bound
(``<``, ``<=``) it has passed is failed for good and aborts at once; ``error_rate`` and the
latencies (``ttft_ms``, ``e2e_ms``, ``itl_ms`` ..., with tag filters) are judged as they stand,
as k6 does, once ``abort_min_samples`` samples are in (default 20, and for ``p(N)`` enough that
one slow request cannot be the whole tail: ``100 / (100 - N)``, so 100 for ``p(99)``).
``delay_abort_eval`` holds every judgement until that much of the run has passed. Pure: the
figures are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.gates.abortable import LIVE_COUNTERS, LIVE_RATES, LIVE_TRENDS
from harness.gates.budget import Check
from harness.gates.catalog import CatalogError, metric_info, to_metric_unit
from harness.gates.expression import compare
from harness.gates.live_trends import LiveTrends
from harness.gates.verdicts import GateResult, Verdict

DEFAULT_ABORT_MIN_SAMPLES = 20


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """What the engine has counted so far (``requests_done``: logical requests finished)."""

    elapsed_s: float
    requests_done: int
    requests_ok: int
    requests_failed: int
    attempts: int
    dropped: int


@dataclass(frozen=True, slots=True)
class Abort:
    """Why a run was stopped; stored as the manifest's ``aborted`` entry."""

    metric: str
    expression: str
    observed: float
    limit: float
    samples: int
    at_s: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def min_samples(check: Check) -> int:
    """Samples a live rate or latency needs before it is judged (see the module docstring)."""
    if check.abort_min_samples is not None:
        return check.abort_min_samples
    pct = check.expression.percentile
    if check.expression.agg == "p" and pct is not None and pct < 100.0:
        return max(DEFAULT_ABORT_MIN_SAMPLES, math.ceil(100.0 / (100.0 - pct) - 1e-9))
    return DEFAULT_ABORT_MIN_SAMPLES


def _observed(
    check: Check, counts: LiveCounts, trends: LiveTrends | None
) -> tuple[float, int] | None:
    name = check.info.name
    if name in LIVE_TRENDS:
        found = None if trends is None else trends.figure(check)
        if found is None:
            return None
        value, samples = found
        if value is None:
            return None
        if check.expression.agg != "count" and samples < min_samples(check):
            return None
        return value, samples
    if name in LIVE_RATES:
        done = counts.requests_done
        if done < min_samples(check):
            return None
        return counts.requests_failed / done, done
    return float(getattr(counts, LIVE_COUNTERS[name])), counts.requests_done


def first_breach(
    checks: Sequence[Check], counts: LiveCounts, trends: LiveTrends | None = None
) -> Abort | None:
    """The first ``abort_on_fail`` check the live figures already fail (latency checks need
    ``trends``, fed with the run's records)."""
    for check in checks:
        if not check.abort_on_fail or check.expression.bound is None:
            continue
        if counts.elapsed_s < check.abort_delay_s:
            continue
        seen = _observed(check, counts, trends)
        if seen is None:
            continue
        limit = to_metric_unit(check.info, check.expression.agg, check.expression.bound)
        if not compare(seen[0], check.expression.op, limit):
            return Abort(check.key.text, check.text, seen[0], limit, seen[1], counts.elapsed_s)
    return None


def abort_result(manifest: Mapping[str, Any]) -> GateResult | None:
    """The gate row of a run that abort-on-fail stopped (None for a run that ran its course)."""
    aborted = manifest.get("aborted")
    if not isinstance(aborted, Mapping):
        return None
    metric = str(aborted.get("metric", "?"))
    try:
        unit = metric_info(metric.split("{", 1)[0]).unit
    except CatalogError:
        unit = None
    observed, limit = aborted.get("observed"), aborted.get("limit")
    return GateResult(
        "thresholds",
        metric,
        str(aborted.get("expression", "?")),
        Verdict.FAIL,
        float(observed) if isinstance(observed, int | float) else None,
        float(limit) if isinstance(limit, int | float) else None,
        detail=f"abort_on_fail stopped the run at {float(aborted.get('at_s') or 0.0):.1f} s "
        f"(live figure on {aborted.get('samples')} samples)",
        unit=unit,
        samples=aborted.get("samples") if isinstance(aborted.get("samples"), int) else None,
    )
