from __future__ import annotations

import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert [counter.next("a", 0.0), counter.next("a", 0.0), counter.next("b", 0.0)] == [0, 1, 0]
    assert counter.next("a", 0.0) == 2  # touching "a" makes "b" the oldest
    assert counter.next("c", 0.0) == 0  # evicts "b"
    assert counter.next("b", 0.0) == 0
    assert counter.next("a", 0.0) == 0  # "a" was evicted by "b"


def test_repeat_counter_forgets_a_key_unseen_for_longer_than_its_age() -> None:
    counter = RepeatCounter(max_age_s=10.0)
    assert counter.next("a", 0.0) == 0
    assert counter.next("b", 5.0) == 0
    assert counter.next("a", 9.0) == 1  # seen again in time: remembered, and its age restarts
    assert counter.next("c", 16.0) == 0  # "b" (last seen at 5 s) is gone, "a" (9 s) is not
    assert len(counter) == 2
    assert counter.next("b", 16.0) == 0
    assert counter.next("a", 18.0) == 2
    assert counter.next("a", 28.5) == 0  # 10.5 s since it was last seen


@settings(max_examples=300, deadline=None)
@given(
    arrivals=st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 6)), max_size=60),
    max_age_s=st.integers(1, 15),
)
def test_repeat_counter_counts_the_arrivals_of_an_unbroken_chain(
    arrivals: list[tuple[str, int]], max_age_s: int
) -> None:
    """With room for every key, each answer is the number of the key's earlier arrivals
    back to the first gap longer than ``max_age_s`` (that gap included from now); no key
    older than that is held."""
    counter = RepeatCounter(capacity=100, max_age_s=float(max_age_s))
    now_s = 0
    times: dict[str, list[int]] = {}
    for key, step_s in arrivals:
        now_s += step_s
        chain, later_s = 0, now_s
        for earlier_s in reversed(times.get(key, [])):
            if later_s - earlier_s > max_age_s:
                break
            chain, later_s = chain + 1, earlier_s
        assert counter.next(key, float(now_s)) == chain
        times.setdefault(key, []).append(now_s)
        held = {k for k, ts in times.items() if now_s - ts[-1] <= max_age_s}
        assert len(counter) == len(held)


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.sampled_from("abcdefgh"), max_size=80), capacity=st.integers(1, 6))
def test_repeat_counter_never_holds_more_than_its_capacity(keys: list[str], capacity: int) -> None:
    """Without ageing, the counter is an LRU of ``capacity`` keys: a key counts its earlier
    arrivals unless ``capacity`` other distinct keys came since its last one."""
    counter = RepeatCounter(capacity=capacity, max_age_s=1e9)
    for index, key in enumerate(keys):
        chain, later = 0, index
        for earlier in range(index - 1, -1, -1):
            if keys[earlier] != key:
                continue
            if len(set(keys[earlier + 1 : later]) - {key}) >= capacity:
                break
            chain, later = chain + 1, earlier
        assert counter.next(key, 0.0) == chain
        assert len(counter) <= capacity
