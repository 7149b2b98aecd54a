"""Latency model of one attempt: a deployment's profile, the prompt size and an RNG in; TTFT,
inter-token gaps and output length out.

Pure: no clock, no sockets; the caller passes a seeded ``numpy.random.Generator``. Every
duration is its mean times ``1 + jitter * z`` with ``z`` a standard normal truncated at +-3
(redrawn outside), so ``jitter = 0`` gives the exact mean and no draw can go negative unless
``jitter`` > 1/3, where the value is floored at zero.

A deployment's ``itl_growth_per_min`` makes the mean ITL grow with the run: ``itl_ms * (1 +
growth) ** (elapsed_s / 60)``, ``elapsed_s`` being when the attempt arrived on its run's clock,
which the caller reads from its injected clock and passes in (``itl_growth_factor``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mock_models.settings import DeploymentSettings

_TRUNCATE_SIGMAS = 3.0


@dataclass(frozen=True, slots=True)
class LatencyDraw:
    """When the tokens of one attempt come out.

    ``gaps_s[i]`` is the wait between token ``i + 1`` and token ``i + 2`` (so there are
    ``completion_tokens - 1`` gaps); ``truncated`` says ``max_tokens`` cut the natural length.
    ``draw_latency`` gives the gaps as one ``array("d")`` (8 bytes a gap instead of a float
    object and a pointer: an open stream holds its plan), never to be changed in place.
    """

    ttft_s: float
    gaps_s: Sequence[float]
    completion_tokens: int
    truncated: bool

    def total_s(self, tokens: int | None = None) -> float:
        """Time from receipt until token ``tokens`` (default: the last one) is out."""
        count = self.completion_tokens if tokens is None else tokens
        if count <= 0:
            return 0.0
        return self.ttft_s + math.fsum(self.gaps_s[: count - 1])

    def tokens_by(self, elapsed_s: float) -> int:
        """How many tokens are out ``elapsed_s`` after receipt."""
        if elapsed_s < self.ttft_s:
            return 0
        out_s, count = self.ttft_s, 1
        for gap_s in self.gaps_s:
            out_s += gap_s
            if out_s > elapsed_s:
                break
            count += 1
        return count


def truncated_normal(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` standard normal draws, each redrawn until it lies within +-3 sigma."""
    z = rng.standard_normal(size)
    outside = np.abs(z) > _TRUNCATE_SIGMAS
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > _TRUNCATE_SIGMAS
    return z


def jittered_s(mean_s: float, jitter: float, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` durations around ``mean_s`` with relative standard deviation ``jitter``."""
    if jitter == 0.0 or mean_s == 0.0:
        return np.full(size, mean_s)
    values = mean_s * (1.0 + jitter * truncated_normal(rng, size))
    return np.maximum(values, 0.0)


def natural_output_tokens(deployment: DeploymentSettings, rng: np.random.Generator) -> int:
    """Output length the model would produce unbounded: lognormal around the median, >= 1."""
    if deployment.output_tokens_sigma == 0.0:
        return deployment.output_tokens
    z = float(rng.standard_normal())
    drawn = deployment.output_tokens * math.exp(deployment.output_tokens_sigma * z)
    return max(1, round(drawn))


def itl_growth_factor(growth_per_min: float, elapsed_s: float) -> float:
    """How much longer the mean ITL is ``elapsed_s`` into the run (1 at its start)."""
    if growth_per_min == 0.0:
        return 1.0
    return float((1.0 + growth_per_min) ** (max(elapsed_s, 0.0) / 60.0))


def draw_latency(
    deployment: DeploymentSettings,
    prompt_tokens: int,
    max_tokens: int | None,
    rng: np.random.Generator,
    ignore_eos: bool = False,
    elapsed_s: float = 0.0,
) -> LatencyDraw:
    """Draw TTFT, output length and inter-token gaps of one attempt (in that order);
    ``ignore_eos`` with a ``max_tokens`` makes the length ``max_tokens``; ``elapsed_s`` is
    the attempt's arrival on its run's clock (it matters only with ``itl_growth_per_min``)."""
    ttft_mean_s = (deployment.ttft_ms + deployment.prefill_ms_per_token * prompt_tokens) / 1000.0
    ttft_s = float(jittered_s(ttft_mean_s, deployment.jitter, rng, 1)[0])
    natural = natural_output_tokens(deployment, rng)
    if ignore_eos and max_tokens is not None:
        natural = max_tokens  # drawn all the same, so the draws after it do not shift
    completion_tokens = natural if max_tokens is None else max(1, min(max_tokens, natural))
    itl_s = deployment.itl_ms / 1000.0 * itl_growth_factor(deployment.itl_growth_per_min, elapsed_s)
    gaps = jittered_s(itl_s, deployment.jitter, rng, completion_tokens - 1)
    return LatencyDraw(
        ttft_s=ttft_s,
        gaps_s=array("d", gaps.astype(np.float64, copy=False).tobytes()),
        completion_tokens=completion_tokens,
        truncated=max_tokens is not None and (ignore_eos or natural > max_tokens),
    )
