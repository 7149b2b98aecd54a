"""A worker's schedule lags in bounded memory: exact percentiles while they fit, then a
uniform sample of every lag seen, whose percentiles stay near the true ones."""

from __future__ import annotations

import numpy as np

from harness.locust.protocol import LagSample


def test_lags_that_fit_give_the_exact_percentiles() -> None:
    lags_s = [0.001 * i for i in range(1, 201)]
    sample = LagSample(size=1_000)
    assert sample.ms() is None
    for lag_s in lags_s:
        sample.add(lag_s)
    p50, p99 = np.percentile(np.asarray(lags_s) * 1000.0, [50, 99])
    assert sample.ms() == {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}


def test_past_its_size_it_keeps_a_uniform_sample_of_all() -> None:
    sample = LagSample(size=2_000, seed=3)
    # A day's lags, the later 70 % larger: a sample of the first ones only would miss them.
    for i in range(200_000):
        sample.add(0.001 if i < 60_000 else 0.101)
    assert len(sample) == 2_000 and sample.seen == 200_000
    assert sample.ms() == {"p50": 101.0, "p99": 101.0}
    early = sum(1 for lag_s in sample._kept if lag_s < 0.05) / len(sample)
    assert 0.25 < early < 0.35  # the first lags kept in their share, not dropped
