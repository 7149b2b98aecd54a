from __future__ import annotations

import sys

import numpy as np

from harness.api.requests import ParsedRequest
from harness.contract.prompt_text import VOCABULARY
from mock_models.settings import DeploymentSettings, MockSettings
from mock_models.sim.attempt import RepeatCounter, attempt_digest, fault_draw, plan_attempt
from mock_models.sim.latency import jittered_s

_REQUEST = ParsedRequest(
    model="mock-small", prompt_tokens=120, max_tokens=None, stream=True, include_usage=True
)


def test_digest_is_stable_and_depends_on_every_part() -> None:
    base = attempt_digest(7, "req-1", 1, 0)
    assert base == attempt_digest(7, "req-1", 1, 0)
    variants = {
        attempt_digest(8, "req-1", 1, 0),
        attempt_digest(7, "req-2", 1, 0),
        attempt_digest(7, "req-1", 2, 0),
        attempt_digest(7, "req-1", 1, 1),
    }
    assert base not in variants
    assert len(variants) == 4
    assert 0 <= base < 2**64


def test_plan_is_a_function_of_the_digest() -> None:
    deployment = MockSettings().deployments[0]
    digests = [attempt_digest(1, f"r{i}", 1, 0) for i in range(50)]
    plans = [plan_attempt(deployment, _REQUEST, digest) for digest in digests]
    again = [plan_attempt(deployment, _REQUEST, digest) for digest in digests]
    assert plans == again
    assert len({plan.latency.completion_tokens for plan in plans}) > 5
    # The fault draw is the first of the attempt's RNG, uniform over [0, 1).
    assert [plan.fault_u for plan in plans] == [fault_draw(digest) for digest in digests]
    assert len({plan.fault_u for plan in plans}) == 50
    assert all(0.0 <= plan.fault_u < 1.0 for plan in plans)
    for plan in plans:
        assert len(plan.words) == plan.latency.completion_tokens


def test_plan_words_and_gaps_are_compact_and_the_seeded_draws() -> None:
    # An open stream holds its plan: words and gaps must not cost an object per token.
    deployment = DeploymentSettings(
        name="long",
        model="mock",
        ttft_ms=20.0,
        itl_ms=20.0,
        jitter=0.1,
        output_tokens=1000,
        output_tokens_sigma=0.0,
    )
    digest = attempt_digest(3, "long", 1, 0)
    plan = plan_attempt(deployment, _REQUEST, digest)
    tokens = plan.latency.completion_tokens
    assert tokens == 1000
    held = sys.getsizeof(plan.words) + sys.getsizeof(plan.latency.gaps_s)
    assert held < 11 * tokens + 256
    # The same draws as the generator gives, in the same order (fault, TTFT, length, gaps,
    # words): narrowing the storage changed no value.
    rng = np.random.Generator(np.random.PCG64(digest))
    assert plan.fault_u == rng.random()
    jittered_s(0.02, 0.1, rng, 1)
    gaps = jittered_s(0.02, 0.1, rng, tokens - 1)
    words = rng.integers(0, len(VOCABULARY), size=tokens)
    assert list(plan.latency.gaps_s) == gaps.tolist()
    assert list(plan.words) == words.tolist()
    assert len(VOCABULARY) <= 2**16


def test_repeat_counter_counts_and_forgets_the_oldest() -> None:
    counter = RepeatCounter(capacity=2)
    assert [counter.next("a"), counter.next("a"), counter.next("b")] == [0, 1, 0]
    assert counter.next("a") == 2  # touching "a" makes "b" the oldest
    assert counter.next("c") == 0  # evicts "b"
    assert counter.next("b") == 0
    assert counter.next("a") == 0  # "a" was evicted by "b"
