"""The metrics a budget may name: a summary key in, its kind, unit and allowed aggregations out.

Kinds follow k6's metric types: a *trend* (a distribution of per-attempt samples, in ms:
``p(N) avg min max med count``), a *ratio* (a share in 0..1: ``rate value``), a *counter*
(``count value``) and a plain *value* (``value``). A quantity written with a unit is turned
into the metric's own unit here: ``800ms`` or ``0.8s`` for a ``*_ms`` metric, ``1%`` for a
ratio; any other unit on a metric is a budget-file error.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.gates.expression import Expression, Quantity
from harness.gates.soak_metrics import SOAK_VALUES

TREND = "trend"
RATIO = "ratio"
COUNTER = "counter"
VALUE = "value"

TRENDS_MS = (
    "ttft_ms",
    "ttft_corrected_ms",
    "itl_ms",
    "tpot_ms",
    "e2e_ms",
    "e2e_corrected_ms",
    "latency_with_retries_ms",
    "schedule_lag_ms",
    "gateway_overhead_ms",
)
RATIOS = (
    "error_rate",
    "cache_hit_rate",
    "gateway_cache_hit_rate",
    "probe_block_rate",
    "probe_false_positive_rate",
    "slo_attainment",
    "client_cpu_share",
)
COUNTERS = (
    "requests_planned",
    "requests_sent",
    "requests_ok",
    "requests_failed",
    "requests_dropped",
    "requests_cancelled",
    "client_attempts",
    "upstream_attempts",
    "client_retries",
    "prompt_tokens_total",
    "completion_tokens_total",
    "cached_tokens_total",
)
VALUES = (
    "retry_amplification",
    "token_amplification",
    "cost_usd_total",
    "cost_per_1k_requests_usd",
    "wasted_cost_usd",
    "goodput_rps",
    "achieved_rps",
    "target_rps",
    "output_tokens_per_s",
    "client_cpu_s",
    "wall_s",
    *SOAK_VALUES,
)

#: What a sweep directory's ``sweep.json`` answers, for a budget's ``[sweep]`` section: the
#: highest arrival rate, concurrency and achieved requests/s meeting the SLO, and the highest
#: goodput any step reached (each a plain value, in req/s or sessions).
SWEEP_VALUES = (
    "max_rate_meeting_slo",
    "max_concurrency_meeting_slo",
    "max_rps_meeting_slo",
    "max_goodput_rps",
)

_KIND_AGGS: dict[str, tuple[str, ...]] = {
    TREND: ("p", "avg", "min", "max", "med", "count"),
    RATIO: ("rate", "value"),
    COUNTER: ("count", "value"),
    VALUE: ("value",),
}
_TIME_UNITS_S = {"ms": 1e-3, "s": 1.0, "us": 1e-6}


class CatalogError(ValueError):
    """A metric name, aggregation or unit does not fit; ``str()`` says what would."""


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    kind: str
    #: ``ms`` or ``s`` for durations, ``ratio`` for shares, else None (no unit may be written).
    unit: str | None

    @property
    def aggregations(self) -> tuple[str, ...]:
        return _KIND_AGGS[self.kind]


def _unit_of(name: str, kind: str) -> str | None:
    if kind == RATIO:
        return "ratio"
    if name.endswith("_ms"):
        return "ms"
    if name.endswith("_s"):
        return "s"
    return None


def metric_info(name: str) -> MetricInfo:
    """What the summary metric ``name`` is; ``CatalogError`` for an unknown name."""
    for kind, names in ((TREND, TRENDS_MS), (RATIO, RATIOS), (COUNTER, COUNTERS), (VALUE, VALUES)):
        if name in names:
            return MetricInfo(name, kind, _unit_of(name, kind))
    if name in SWEEP_VALUES:
        raise CatalogError(f"{name} is a sweep's figure: it belongs in [sweep]")
    known = ", ".join((*TRENDS_MS, *RATIOS, *COUNTERS, *VALUES))
    raise CatalogError(f"unknown metric {name!r}; known metrics: {known}")


def sweep_metric_info(name: str) -> MetricInfo:
    """What the ``[sweep]`` figure ``name`` is; ``CatalogError`` for any other name."""
    if name in SWEEP_VALUES:
        return MetricInfo(name, VALUE, None)
    raise CatalogError(f"unknown sweep figure {name!r}; known: {', '.join(SWEEP_VALUES)}")


def check_expression(info: MetricInfo, expression: Expression) -> None:
    """Raise ``CatalogError`` when the expression's aggregation or units do not fit the metric."""
    if expression.agg not in info.aggregations:
        allowed = ", ".join("p(N)" if a == "p" else a for a in info.aggregations)
        raise CatalogError(
            f"aggregation {expression.agg_text!r} does not apply to {info.name} "
            f"(a {info.kind}); use {allowed}"
        )
    for quantity in (expression.bound, expression.baseline_offset):
        if quantity is not None:
            to_metric_unit(info, expression.agg, quantity)


def to_metric_unit(info: MetricInfo, agg: str, quantity: Quantity) -> float:
    """The quantity as a number in the metric's unit (``count`` of a trend has no unit)."""
    unit = quantity.unit
    if unit is None:
        return quantity.number
    if agg == "count":
        raise CatalogError(f"count is a number of samples: write it without the unit {unit!r}")
    if unit in _TIME_UNITS_S and info.unit in ("ms", "s"):
        factor = _TIME_UNITS_S[unit] / _TIME_UNITS_S[info.unit]
        return quantity.number * factor
    if unit == "%" and info.unit == "ratio":
        return quantity.number / 100.0
    kind = {"ms": "a duration in ms", "s": "a duration in s", "ratio": "a share in 0..1"}
    described = kind.get(info.unit or "", "a plain number")
    raise CatalogError(
        f"unit {unit!r} does not apply to {info.name} ({described}); "
        "write the number in the metric's unit"
    )
