"""Distributions fitted to recorded traces: a ``Dist`` or ``[arrival]`` that names a trace in,
the same with its values filled in (empirical), its parameters fitted (lognormal, gamma
arrivals) out. Reading the trace is the only I/O; the fits themselves are pure.

A lognormal is fitted to the column's p50 and p90 (median = p50, sigma from their ratio)
rather than by moments: token counts have heavy tails, and a quantile fit reproduces the
quantiles a report shows. Gamma arrivals take the trace's mean rate and inter-arrival CV.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from harness.contract.distributions import Dist
from harness.contract.traffic import Arrival
from workloads.kinds import Workload
from workloads.traces import TraceError, TraceRow, load_trace

#: z-score of the 90th percentile of a standard normal.
Z90 = 1.2815515655446004

_TraceLoader = Callable[[Path], Sequence[TraceRow]]
_ModelT = TypeVar("_ModelT", bound=BaseModel)


def _prompt(rows: Sequence[TraceRow]) -> list[float]:
    return [float(row.prompt_tokens) for row in rows]


def _output(rows: Sequence[TraceRow]) -> list[float]:
    return [float(row.output_tokens) for row in rows]


def interarrival_s(rows: Sequence[TraceRow]) -> list[float]:
    """The gaps between consecutive rows in time order, in seconds."""
    times_ns = sorted(row.time_ns for row in rows)
    return [(later - earlier) / 1e9 for earlier, later in itertools.pairwise(times_ns)]


#: Column names a ``Dist`` may name: the planner's own and each shared format's.
COLUMNS: dict[str, Callable[[Sequence[TraceRow]], list[float]]] = {
    "prompt_tokens": _prompt,
    "output_tokens": _output,
    "interarrival_s": interarrival_s,
    "ContextTokens": _prompt,
    "GeneratedTokens": _output,  # Azure
    "Request tokens": _prompt,
    "Response tokens": _output,  # BurstGPT
    "input_length": _prompt,
    "output_length": _output,  # Mooncake
    "input_tokens_total": _prompt,  # TraceLab (its output column is output_tokens)
}


def column_values(rows: Sequence[TraceRow], column: str, source: str) -> list[float]:
    """The values of ``column`` over ``rows``; ``TraceError`` naming the known columns."""
    try:
        extract = COLUMNS[column]
    except KeyError:
        known = ", ".join(repr(name) for name in COLUMNS)
        raise TraceError(
            f"{source}: column '{column}' cannot be sampled (known: {known})"
        ) from None
    values = extract(rows)
    if not values:
        raise TraceError(f"{source}: column '{column}' has no values to fit")
    return values


def fit_lognormal(values: Sequence[float], source: str = "values") -> tuple[float, float]:
    """(median, sigma) of the lognormal whose p50 and p90 are those of ``values``."""
    p50, p90 = (float(q) for q in np.percentile(np.asarray(values, dtype=float), [50, 90]))
    if p50 <= 0:
        raise TraceError(
            f"{source}: median is {p50:g}; a lognormal needs a positive median "
            "(use dist = 'empirical')"
        )
    return p50, max(math.log(p90 / p50), 0.0) / Z90


def gap_rate_and_cv(gaps_s: Sequence[float], source: str = "trace") -> tuple[float, float]:
    """The mean rate (1/s) and coefficient of variation of inter-arrival gaps."""
    gaps = np.asarray(gaps_s, dtype=float)
    mean_s = float(gaps.mean()) if gaps.size else 0.0
    if gaps.size < 2 or mean_s <= 0:
        raise TraceError(f"{source}: needs at least 3 rows at distinct times to fit arrivals")
    return 1.0 / mean_s, float(gaps.std()) / mean_s


class TraceFits:
    """Fits trace-backed distributions, reading each trace file once."""

    def __init__(self, loader: _TraceLoader | None = None) -> None:
        self._loader: _TraceLoader = loader or (lambda path: load_trace(path))
        self._rows: dict[str, Sequence[TraceRow]] = {}

    def rows(self, trace: str) -> Sequence[TraceRow]:
        if trace not in self._rows:
            self._rows[trace] = self._loader(Path(trace))
        return self._rows[trace]

    def dist(self, dist: Dist) -> Dist:
        """``dist`` with its trace column turned into values (empirical) or parameters."""
        if dist.trace is None or dist.column is None:
            return dist
        source = f"{dist.trace}: column '{dist.column}'"
        values = column_values(self.rows(dist.trace), dist.column, dist.trace)
        if dist.dist == "empirical":
            return dist.model_copy(update={"values": tuple(values)})
        median, sigma = fit_lognormal(values, source)
        return dist.model_copy(update={"median": median, "sigma": sigma})

    def workload(self, workload: Workload) -> Workload:
        """``workload`` with every trace-backed ``Dist`` field fitted (nested tables too)."""
        return self._fitted(workload)

    def _fitted(self, model: _ModelT) -> _ModelT:
        updates: dict[str, Any] = {}
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, Dist):
                if value.trace is not None:
                    updates[name] = self.dist(value)
            elif isinstance(value, BaseModel):
                fitted = self._fitted(value)
                if fitted is not value:
                    updates[name] = fitted
        return model.model_copy(update=updates) if updates else model

    def arrival(self, arrival: Arrival) -> Arrival:
        """``arrival`` fitted to its trace: a gamma process at the trace's rate and CV."""
        if arrival.trace is None:
            return arrival
        rate_per_s, cv = gap_rate_and_cv(interarrival_s(self.rows(arrival.trace)), arrival.trace)
        return arrival.model_copy(
            update={
                "process": "gamma",
                "rate": rate_per_s * arrival.trace_time_scale,
                "cv": max(cv, 1e-6),
            }
        )
