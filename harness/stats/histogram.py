"""A streaming histogram with a memory cap: samples in one at a time, count, sum, min, max and
quantiles (within a known relative error) out.

Buckets grow geometrically (``gamma = (1 + a) / (1 - a)`` for relative accuracy ``a``), so a
bucket's midpoint is within ``a`` of every sample in it, whatever the scale. Samples are
clamped to ``[MIN_VALUE, MAX_VALUE]`` (zero and below share one bucket), which caps the number
of buckets: about 3,500 at the default 0.5 %, whatever the run's length. Count, sum, min and
max are exact. Quantiles use the rank numpy's ``linear`` method starts from (``q * (n - 1)``)
and return the midpoint of the bucket holding it, clamped to ``[min, max]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DEFAULT_ACCURACY = 0.005
MIN_VALUE = 1e-6
MAX_VALUE = 1e9


class LogHistogram:
    """Counts per geometric bucket of positive samples; not thread-safe (one event loop)."""

    __slots__ = ("_buckets", "_gamma_log", "_zeros", "count", "max", "min", "sum")

    def __init__(self, accuracy: float = DEFAULT_ACCURACY) -> None:
        if not 0.0 < accuracy < 1.0:
            raise ValueError("accuracy must be in (0, 1)")
        self._gamma_log = math.log((1.0 + accuracy) / (1.0 - accuracy))
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if value <= 0.0:
            self._zeros += 1
            return
        clamped = min(max(value, MIN_VALUE), MAX_VALUE)
        index = math.ceil(math.log(clamped) / self._gamma_log)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def add_many(self, values: Sequence[float]) -> None:
        """``add`` each value; vectorised, for the many inter-token gaps of one stream."""
        if len(values) < 8:
            for value in values:
                self.add(value)
            return
        array = np.asarray(values, dtype=np.float64)
        array = array[np.isfinite(array)]
        if array.size == 0:
            return
        self.count += int(array.size)
        self.sum += float(array.sum())
        self.min = min(self.min, float(array.min()))
        self.max = max(self.max, float(array.max()))
        positive = array[array > 0.0]
        self._zeros += int(array.size - positive.size)
        clamped = np.clip(positive, MIN_VALUE, MAX_VALUE)
        indexes, counts = np.unique(np.ceil(np.log(clamped) / self._gamma_log), return_counts=True)
        for index, count in zip(indexes.tolist(), counts.tolist(), strict=True):
            key = int(index)
            self._buckets[key] = self._buckets.get(key, 0) + int(count)

    @property
    def buckets(self) -> int:
        """How many buckets hold samples (the memory the histogram uses)."""
        return len(self._buckets) + (1 if self._zeros else 0)

    def _midpoint(self, index: int) -> float:
        # Bucket ``index`` holds (gamma^(index-1), gamma^index]; this point is within the
        # accuracy of both ends.
        gamma = math.exp(self._gamma_log)
        return 2.0 * math.exp(index * self._gamma_log) / (gamma + 1.0)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the samples so far; None without samples."""
        if self.count == 0:
            return None
        rank = min(max(q, 0.0), 1.0) * (self.count - 1)
        seen = self._zeros
        value = 0.0 if rank < seen else None
        if value is None:
            for index in sorted(self._buckets):
                seen += self._buckets[index]
                if rank < seen:
                    value = self._midpoint(index)
                    break
        found = self.max if value is None else value
        return min(max(found, self.min), self.max)

    def aggregate(self, agg: str, percentile: float | None = None) -> float | None:
        """A budget aggregation (``p``, ``med``, ``avg``, ``min``, ``max``, ``count``)."""
        if agg == "count":
            return float(self.count)
        if self.count == 0:
            return None
        if agg == "p":
            return self.quantile((percentile or 0.0) / 100.0)
        if agg == "med":
            return self.quantile(0.5)
        if agg == "min":
            return self.min
        if agg == "max":
            return self.max
        return self.sum / self.count
