"""Which checks may abort a run: a check's section, metric, filters and expression in, why it
cannot stop a run early (or None) out.

The figures the engine can watch while a run goes on: counters that only grow
(``LIVE_COUNTERS``), the error rate (``LIVE_RATES``) and the latencies read from attempt
records as they are written (``LIVE_TRENDS``). ``harness.gates.budget`` asks this module when
it parses an ``abort_on_fail`` entry; ``harness.gates.live`` judges the live figures. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.gates.expression import Expression

#: Counter -> the ``LiveCounts`` field that never exceeds its final value.
LIVE_COUNTERS = {
    "requests_failed": "requests_failed",
    "requests_ok": "requests_ok",
    "requests_sent": "requests_done",
    "client_attempts": "attempts",
    "requests_dropped": "dropped",
}
LIVE_RATES = ("error_rate",)
#: Latencies computed live from the attempt records (per-request and ledger-based ones are not).
LIVE_TRENDS = (
    "ttft_ms",
    "ttft_corrected_ms",
    "tpot_ms",
    "e2e_ms",
    "e2e_corrected_ms",
    "itl_ms",
    "schedule_lag_ms",
)
#: Tags that describe a request's final attempt: a sent-attempt trend cannot filter on them.
_FINAL_ATTEMPT_TAGS = ("outcome", "fault")


def abort_problem(
    section: str,
    name: str,
    filter_tags: Sequence[str],
    expression: Expression,
    sustained: bool,
    strict: bool,
) -> str | None:
    """Why this check cannot abort a run (None when it can)."""
    live = ", ".join((*LIVE_COUNTERS, *LIVE_RATES, *LIVE_TRENDS))
    upper = expression.op in ("<", "<=")
    if section != "thresholds":
        return "abort_on_fail applies to [thresholds] only"
    if sustained or not strict:
        return "abort_on_fail needs a strict check without over"
    if name in LIVE_TRENDS:
        if name == "schedule_lag_ms" and set(filter_tags) & set(_FINAL_ATTEMPT_TAGS):
            return (
                "abort_on_fail on schedule_lag_ms cannot filter on outcome or fault "
                "(an attempt's final outcome is known only at the end)"
            )
        if expression.agg == "count" and not upper:
            return "abort_on_fail on a count needs an upper bound (< or <=)"
        return None
    if filter_tags:
        return (
            "abort_on_fail needs an unfiltered, strict check without over (tag filters "
            "work on latencies only)"
        )
    if name in LIVE_RATES:
        return None
    if name not in LIVE_COUNTERS:
        return f"abort_on_fail needs a figure counted live; use one of {live}"
    if not upper:
        return (
            "abort_on_fail on a counter needs an upper bound (< or <=): a lower bound "
            "may still be met before the run ends"
        )
    return None
