"""The prefix cache: chained block hashes, hits on shared prefixes only, LRU capacity."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.contract.prompt_text import synthetic_text
from mock_models.sim.prefix_cache import PrefixCache, block_hashes

_SHARED = synthetic_text(64, 1)


def test_blocks_hit_only_up_to_the_first_difference() -> None:
    first = block_hashes([_SHARED, synthetic_text(40, 2)], 16)
    second = block_hashes([_SHARED, synthetic_text(40, 3)], 16)
    assert len(first) == len(second) == (64 + 40) // 16
    assert first[:4] == second[:4] and first[4:] != second[4:]
    # Chained: the same block after a different prefix is a different block.
    shifted = block_hashes([synthetic_text(16, 9), _SHARED], 16)
    assert not set(shifted) & set(first)
    # Pieces are joined into one token stream, so the split between them does not matter.
    words = _SHARED.split()
    assert block_hashes([" ".join(words[:10]), " ".join(words[10:])], 16) == block_hashes(
        [_SHARED], 16
    )


def test_cached_tokens_count_leading_blocks_and_leave_the_last_token() -> None:
    cache = PrefixCache(capacity_blocks=100, block_size_tokens=16)
    prompt = [_SHARED, synthetic_text(40, 2)]
    hashes = block_hashes(prompt, 16)
    assert cache.cached_tokens(hashes, 104) == 0
    cache.remember(hashes)
    assert cache.cached_tokens(hashes, 104) == 96
    other = block_hashes([_SHARED, synthetic_text(40, 3)], 16)
    assert cache.cached_tokens(other, 104) == 64
    exact = block_hashes([_SHARED], 16)
    assert cache.cached_tokens(exact, 64) == 48  # a full hit still computes its last block


def test_least_recently_used_blocks_go_first() -> None:
    cache = PrefixCache(capacity_blocks=4, block_size_tokens=16)
    a = block_hashes([synthetic_text(32, 1)], 16)
    b = block_hashes([synthetic_text(32, 2)], 16)
    c = block_hashes([synthetic_text(32, 3)], 16)
    cache.remember(a)
    cache.remember(b)
    cache.remember(a)  # a is now the most recent
    cache.remember(c)  # evicts b
    assert len(cache) == 4
    assert cache.cached_tokens(a, 40) == 32
    assert cache.cached_tokens(b, 40) == 0
    assert cache.cached_tokens(c, 40) == 32


@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=32),
    st.integers(min_value=1, max_value=20),
)
def test_hits_are_whole_blocks_below_the_prompt_and_capacity_holds(
    seeds: list[int], block: int, capacity: int
) -> None:
    cache = PrefixCache(capacity_blocks=capacity, block_size_tokens=block)
    for seed in seeds:
        prompt = synthetic_text(50 + seed, seed)
        hashes = block_hashes([prompt], block)
        cached = cache.cached_tokens(hashes, 50 + seed)
        assert cached % block == 0 and 0 <= cached < 50 + seed
        cache.remember(hashes)
        assert len(cache) <= capacity
