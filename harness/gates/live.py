"""Abort-on-fail: a budget's ``abort_on_fail`` checks and the run's live counters in, the first
check that has already failed out (or None), plus the gate row that records the abort.

Only figures the engine counts as it goes can abort a run, and only where a breach seen
mid-run stands at the end: a counter (``requests_failed``, ``requests_ok``, ``requests_sent``,
``client_attempts``, ``requests_dropped``) only grows, so an upper bound (``<``, ``<=``) it
has passed is failed for good; ``error_rate`` is judged once ``abort_min_samples`` requests
have finished (k6's abortOnFail with a sample floor instead of ``delayAbortEval``). Pure: the
counters are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from harness.gates.catalog import metric_info, to_metric_unit
from harness.gates.expression import Expression, compare
from harness.gates.verdicts import GateResult, Verdict

if TYPE_CHECKING:
    from harness.gates.budget import Check

DEFAULT_ABORT_MIN_SAMPLES = 20
#: Counter -> the ``LiveCounts`` field that never exceeds its final value.
LIVE_COUNTERS = {"requests_failed": "requests_failed", "requests_ok": "requests_ok",
                 "requests_sent": "requests_done", "client_attempts": "attempts",
                 "requests_dropped": "dropped"}
LIVE_RATES = ("error_rate",)


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


def abort_problem(section: str, name: str, filtered: bool, expression: Expression,
                  sustained: bool, strict: bool) -> str | None:
    """Why this check cannot abort a run (None when it can)."""
    live = ", ".join((*LIVE_COUNTERS, *LIVE_RATES))
    if section != "thresholds":
        return "abort_on_fail applies to [thresholds] only"
    if filtered or sustained or not strict:
        return "abort_on_fail needs an unfiltered, strict check without over"
    if name in LIVE_RATES:
        return None
    if name not in LIVE_COUNTERS:
        return f"abort_on_fail needs a figure counted live; use one of {live}"
    if expression.op not in ("<", "<="):
        return ("abort_on_fail on a counter needs an upper bound (< or <=): a lower bound "
                "may still be met before the run ends")
    return None


def _observed(check: Check, counts: LiveCounts) -> tuple[float, int] | None:
    name = check.info.name
    if name in LIVE_RATES:
        done = counts.requests_done
        if done < check.abort_min_samples:
            return None
        return counts.requests_failed / done, done
    return float(getattr(counts, LIVE_COUNTERS[name])), counts.requests_done


def first_breach(checks: Sequence[Check], counts: LiveCounts) -> Abort | None:
    """The first ``abort_on_fail`` check the live counts already fail."""
    for check in checks:
        if not check.abort_on_fail or check.expression.bound is None:
            continue
        seen = _observed(check, counts)
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
    name = metric.split("{", 1)[0]
    unit = metric_info(name).unit if name in (*LIVE_COUNTERS, *LIVE_RATES) else None
    observed, limit = aborted.get("observed"), aborted.get("limit")
    return GateResult(
        "thresholds", metric, str(aborted.get("expression", "?")), Verdict.FAIL,
        float(observed) if isinstance(observed, int | float) else None,
        float(limit) if isinstance(limit, int | float) else None,
        detail=f"abort_on_fail stopped the run at {float(aborted.get('at_s') or 0.0):.1f} s "
               f"(live figure on {aborted.get('samples')} finished requests)",
        unit=unit, samples=aborted.get("samples") if isinstance(aborted.get("samples"),
                                                                 int) else None)
