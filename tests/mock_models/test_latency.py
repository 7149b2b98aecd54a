from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_models.settings import DeploymentSettings, constant_settings
from mock_models.sim.latency import LatencyDraw, draw_latency, truncated_normal


def _deployment(**overrides: float) -> DeploymentSettings:
    fields: dict[str, object] = {
        "name": "d",
        "model": "m",
        "ttft_ms": 80.0,
        "prefill_ms_per_token": 0.5,
        "itl_ms": 10.0,
        "jitter": 0.2,
        "output_tokens": 40,
        "output_tokens_sigma": 0.5,
    }
    fields.update(overrides)
    return DeploymentSettings.model_validate(fields)


def test_zero_jitter_is_exact() -> None:
    deployment = _deployment(jitter=0.0, output_tokens_sigma=0.0)
    draw = draw_latency(deployment, 100, None, np.random.default_rng(1))
    assert draw.ttft_s == pytest.approx((80.0 + 0.5 * 100) / 1000)
    assert draw.completion_tokens == 40
    assert tuple(draw.gaps_s) == (0.010,) * 39
    assert not draw.truncated


def test_constant_settings_give_exact_timing() -> None:
    deployment = constant_settings(ttft_ms=100, itl_ms=20, output_tokens=10).deployments[0]
    draw = draw_latency(deployment, 5000, None, np.random.default_rng(3))
    assert draw.ttft_s == pytest.approx(0.1)
    assert tuple(draw.gaps_s) == (0.02,) * 9
    assert draw.total_s() == pytest.approx(0.1 + 9 * 0.02)


@given(
    st.integers(min_value=0, max_value=2**32),
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=0, max_value=10_000),
)
def test_jittered_durations_stay_within_three_sigma(
    seed: int, jitter: float, prompt_tokens: int
) -> None:
    deployment = _deployment(jitter=jitter)
    draw = draw_latency(deployment, prompt_tokens, None, np.random.default_rng(seed))
    ttft_mean_s = (80.0 + 0.5 * prompt_tokens) / 1000
    assert max(0.0, ttft_mean_s * (1 - 3 * jitter)) - 1e-12 <= draw.ttft_s
    assert draw.ttft_s <= ttft_mean_s * (1 + 3 * jitter) + 1e-12
    for gap_s in draw.gaps_s:
        assert max(0.0, 0.010 * (1 - 3 * jitter)) - 1e-12 <= gap_s <= 0.010 * (1 + 3 * jitter)
    assert len(draw.gaps_s) == draw.completion_tokens - 1


@given(
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=500),
    st.floats(min_value=0.0, max_value=2.0),
)
def test_output_length_honours_max_tokens(seed: int, max_tokens: int, sigma: float) -> None:
    deployment = _deployment(output_tokens_sigma=sigma)
    draw = draw_latency(deployment, 10, max_tokens, np.random.default_rng(seed))
    assert 1 <= draw.completion_tokens <= max_tokens
    unbounded = draw_latency(deployment, 10, None, np.random.default_rng(seed))
    assert draw.completion_tokens == min(max_tokens, unbounded.completion_tokens)
    assert draw.truncated == (unbounded.completion_tokens > max_tokens)


def test_output_length_median_is_the_configured_one() -> None:
    deployment = _deployment(output_tokens=64, output_tokens_sigma=0.8)
    rng = np.random.default_rng(11)
    lengths = [draw_latency(deployment, 0, None, rng).completion_tokens for _ in range(4000)]
    assert 58 <= float(np.median(lengths)) <= 70
    assert min(lengths) >= 1


def test_jitter_spreads_around_the_mean() -> None:
    rng = np.random.default_rng(5)
    draws = [draw_latency(_deployment(jitter=0.1), 0, None, rng) for _ in range(500)]
    ttfts = np.array([draw.ttft_s for draw in draws])
    assert ttfts.mean() == pytest.approx(0.080, rel=0.02)
    assert ttfts.std() == pytest.approx(0.008, rel=0.15)


def test_truncated_normal_never_leaves_three_sigma() -> None:
    z = truncated_normal(np.random.default_rng(0), 200_000)
    assert np.abs(z).max() <= 3.0
    assert z.std() == pytest.approx(0.986, abs=0.01)  # sqrt(1 - 6 phi(3) / (2 Phi(3) - 1))


def test_same_seed_same_draw() -> None:
    deployment = _deployment()
    first = draw_latency(deployment, 300, 64, np.random.default_rng(42))
    again = draw_latency(deployment, 300, 64, np.random.default_rng(42))
    assert first == again


def test_tokens_by_counts_tokens_already_out() -> None:
    draw = LatencyDraw(ttft_s=0.1, gaps_s=(0.02, 0.02, 0.02), completion_tokens=4, truncated=False)
    assert [draw.tokens_by(t) for t in (0.05, 0.1, 0.119, 0.121, 0.15, 1.0)] == [0, 1, 1, 2, 3, 4]
    assert draw.total_s(2) == pytest.approx(0.12)
    assert draw.total_s(0) == 0.0


def test_itl_growth_compounds_per_minute_of_the_runs_clock() -> None:
    deployment = _deployment(jitter=0.0, output_tokens_sigma=0.0, itl_growth_per_min=0.01)
    start = draw_latency(deployment, 100, None, np.random.default_rng(1), elapsed_s=0.0)
    hour = draw_latency(deployment, 100, None, np.random.default_rng(1), elapsed_s=3600.0)
    assert list(start.gaps_s) == pytest.approx([0.010] * 39)
    assert list(hour.gaps_s) == pytest.approx([0.010 * 1.01**60] * 39)
    assert hour.ttft_s == start.ttft_s  # only the ITL degrades


def test_without_growth_the_runs_clock_changes_nothing() -> None:
    deployment = _deployment()
    early = draw_latency(deployment, 100, None, np.random.default_rng(9), elapsed_s=0.0)
    late = draw_latency(deployment, 100, None, np.random.default_rng(9), elapsed_s=86400.0)
    assert late == early


def test_itl_growth_belongs_to_the_constant_model() -> None:
    with pytest.raises(ValueError, match="itl_growth_per_min belongs to the constant"):
        DeploymentSettings.model_validate(
            {"name": "d", "model": "m", "itl_growth_per_min": 0.01, "engine": {}}
        )
