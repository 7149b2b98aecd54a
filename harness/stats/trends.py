"""Per-attempt trend samples: one ``AttemptRecord`` and a trend metric name in, its samples out.

The one definition of which attempts feed a latency trend and with what value, shared by the
end-of-run figures (``harness.stats.slices``) and the live figures abort-on-fail reads while
records arrive (``harness.gates.live_trends``). Each sample is ``(run-clock time_s, value_s)``:
attempt trends are timed at the send, inter-token gaps at the later token. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.contract.records import AttemptRecord
from harness.metrics import latency as lat

ATTEMPT_TRENDS: dict[
    str, tuple[Callable[[AttemptRecord], bool], Callable[[AttemptRecord], float | None]]
] = {
    "ttft_ms": (lat.is_ok, lat.ttft_s),
    "ttft_corrected_ms": (lat.is_ok, lat.ttft_corrected_s),
    "tpot_ms": (lat.is_ok, lat.tpot_s),
    "e2e_ms": (lat.is_ok, lat.e2e_s),
    "e2e_corrected_ms": (lat.is_ok, lat.e2e_corrected_s),
    "schedule_lag_ms": (lat.is_sent, lat.schedule_lag_s),
}
#: Tag values of an attempt the upstream injected no fault into, and of a missing tag.
NO_FAULT = "none"
NO_TAG = "(none)"
#: Trends whose samples each come from one attempt record alone.
PER_ATTEMPT_TRENDS = (*ATTEMPT_TRENDS, "itl_ms")


def attempt_samples(record: AttemptRecord, name: str) -> list[tuple[float, float]]:
    """The ``(time_s, value_s)`` samples ``record`` adds to trend ``name`` (may be empty)."""
    if name == "itl_ms":
        if not lat.is_ok(record):
            return []
        times = lat.content_times_s(record)
        return list(zip(times[1:], lat.itl_gaps_s(record), strict=True))
    population, metric = ATTEMPT_TRENDS[name]
    if not population(record) or (value := metric(record)) is None:
        return []
    return [(record.sent_s or record.scheduled_s, value)]


def attempt_trend_columns(name: str) -> tuple[str, str]:
    """The columns of the ``att_t`` view (``harness.store.query``) behind attempt trend
    ``name``: its population and its value in s. That view names them after the
    ``harness.metrics.latency`` functions which define them (``is_ok`` -> ``ok``), so the
    definition stays there."""
    population, metric = ATTEMPT_TRENDS[name]
    return population.__name__.removeprefix("is_"), metric.__name__
