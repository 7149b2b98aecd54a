"""Soak gate metrics: a run summary and one of ``SOAK_VALUES`` in; the figure a budget's check
compares (or why it is unknown) out.

The latency and error-rate slopes are read from the summary's ``soak`` object
(``harness.stats.soak``): the estimated slope per hour of window p99 TTFT and E2E (ms per
hour) and of the window error rate (share per hour). The SUT's leak figure,
``sut_rss_bytes_per_hour``, is read from the summary's ``watch`` object (written by
``--watch`` scraping): of the leak verdicts of its ``process_resident_memory_bytes`` series
(mappings with a numeric ``bytes_per_hour``, under ``urls`` / URL / ``leak`` / series), the
fastest-growing one, so a budget bounds the worst watched process. A run too short for a
trend, or without ``--watch``, gives no figure and its check is inconclusive: never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Budget metric name -> the ``soak.trends`` entry it reads.
SOAK_TRENDS = {
    "ttft_ms_p99_slope_per_hour": "ttft_ms_p99",
    "e2e_ms_p99_slope_per_hour": "e2e_ms_p99",
    "error_rate_slope_per_hour": "error_rate",
}
SUT_LEAK = "sut_rss_bytes_per_hour"
SOAK_VALUES = (*SOAK_TRENDS, SUT_LEAK)
#: How deep in ``watch`` a leak verdict may sit (``urls`` / URL / ``leak`` / series / verdict).
_LEAK_DEPTH = 5


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def leak_verdicts(found: Any, depth: int = 0) -> list[Mapping[str, Any]]:
    """Every mapping of a summary's ``watch`` object (depth <= ``_LEAK_DEPTH``) with a
    numeric ``bytes_per_hour``: one leak verdict per watched memory series."""
    if not isinstance(found, Mapping) or depth > _LEAK_DEPTH:
        return []
    if _number(found.get("bytes_per_hour")) is not None:
        return [found]
    return [v for inner in found.values() for v in leak_verdicts(inner, depth + 1)]


def worst_leak(watch: Any) -> Mapping[str, Any] | None:
    """The leak verdict with the fastest growth (None: no series has one)."""
    verdicts = leak_verdicts(watch)
    return max(verdicts, key=lambda v: float(v["bytes_per_hour"])) if verdicts else None


def soak_figure(summary: Mapping[str, Any], name: str) -> tuple[float | None, str | None]:
    """``(value, None)``, or ``(None, why it is unknown)``, of soak metric ``name``."""
    if name == SUT_LEAK:
        watch = summary.get("watch")
        if not isinstance(watch, Mapping):
            return None, "no SUT metrics: run with --watch URL to get a leak verdict"
        verdict = worst_leak(watch)
        value = None if verdict is None else _number(verdict["bytes_per_hour"])
        return value, None if value is not None else "the watched SUT gave no leak verdict"
    soak = summary.get("soak")
    if not isinstance(soak, Mapping):
        return None, "the summary has no soak section (rebuild it with tokenstorm report)"
    trend = (soak.get("trends") or {}).get(SOAK_TRENDS[name])
    value = _number(trend.get("per_hour")) if isinstance(trend, Mapping) else None
    if value is None:
        return None, str(soak.get("reason") or f"the soak section has no {SOAK_TRENDS[name]}")
    return value, None
