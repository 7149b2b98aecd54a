"""Metrics: attempt records (plus plan, ledger and prices) in, the run summary out.

Pure functions only: no clock, no sockets, no files. ``summarize`` is the entry point; the
submodules hold one idea each (percentiles, per-attempt timings, logical requests, upstream
correlation, cost, SLOs, splits, validity).
"""

from harness.metrics.percentiles import QUANTILES, STAT_KEYS, empty_stats, stats, stats_ms
from harness.metrics.summary import SUMMARY_SCHEMA, SummaryInputs, summarize
from harness.metrics.validity import ValidityLimits, assess_validity

__all__ = [
    "QUANTILES",
    "STAT_KEYS",
    "SUMMARY_SCHEMA",
    "SummaryInputs",
    "ValidityLimits",
    "assess_validity",
    "empty_stats",
    "stats",
    "stats_ms",
    "summarize",
]
