"""Samples from columns: per-attempt or per-request columns (numpy arrays) in, one metric's
``Samples`` (values in time order) out.

The one place where the order and scale of each sampled metric are defined, shared by the two
sample sources of ``harness.stats.sources``: records in memory give these columns from their
objects, a large run's files give them from DuckDB (``harness.stats.file_samples``). The order
is the one Python gives when it sorts ``(time, value)`` pairs, so both sources hand the
bootstrap the very same sequence and a seeded interval is the same. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Samples:
    """Per-sample values (in the metric's unit), with the run-clock time each belongs to."""

    times_s: FloatArray
    values: FloatArray


def time_ordered(
    times_s: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    scale: float = 1.0,
) -> Samples:
    """The samples sorted by time, then value, each value multiplied by ``scale`` (1000 for
    durations in s shown in ms)."""
    times = np.asarray(times_s, dtype=np.float64)
    raw = np.asarray(values, dtype=np.float64)
    order = np.lexsort((raw, times))
    return Samples(times[order], raw[order] * scale)


def failure_samples(first_scheduled_s: FloatArray, ok: NDArray[np.bool_]) -> Samples:
    """One sample per sent logical request: 1.0 when it failed, 0.0 when it succeeded, timed
    at its first attempt's intended send."""
    return time_ordered(first_scheduled_s, np.where(ok, 0.0, 1.0))


def cache_hit_samples(
    sent_s: FloatArray, cached_tokens: NDArray[np.int64], prompt_tokens: NDArray[np.int64]
) -> Samples | None:
    """Per sent attempt, its cached tokens over the mean prompt tokens per sent attempt (so the
    mean is ``cache_hit_rate``), in order of sending, ties in record order; the columns are
    those of the sent attempts in record order, unknown token counts as 0. None without
    prompt tokens."""
    prompt = int(prompt_tokens.sum())
    if not prompt:
        return None
    mean_prompt = prompt / len(sent_s)
    order = np.argsort(sent_s, kind="stable")
    return Samples(sent_s[order], cached_tokens[order] / mean_prompt)


def request_cost_samples(
    first_scheduled_s: FloatArray, item_request: IntArray, item_usd: FloatArray
) -> Samples:
    """One sample per sent logical request (``first_scheduled_s``: its first attempt's
    intended send): the USD of its billable attempts, each times 1000, so that the mean is in
    USD per 1000 requests. ``item_request`` is each billable attempt's request, by its index
    in ``first_scheduled_s`` (-1 for none of them: left out). A request's attempts are added
    smallest first, so the sum is the same float however the ledger or the records order
    them (a float sum of three or more depends on the order)."""
    kept = item_request >= 0
    requests, usd_per_1k = item_request[kept], item_usd[kept] * 1000.0
    order = np.lexsort((usd_per_1k, requests))
    per_request = np.zeros(first_scheduled_s.size, np.float64)
    np.add.at(per_request, requests[order], usd_per_1k[order])  # in order, one by one
    return time_ordered(first_scheduled_s, per_request)
