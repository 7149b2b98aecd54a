"""Anthropic-style explicit prompt caching: breakpoints, minimum length, lookback, lifetimes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.api.requests import TTL_1H_S, Breakpoint
from harness.contract.prompt_text import synthetic_text
from mock_models.sim.explicit_cache import LOOKBACK_BLOCKS, ExplicitCache, boundary_digests

_SYSTEM = synthetic_text(1500, 1)


def _turn(count: int) -> list[str]:
    """A conversation of ``count`` messages after the system prompt (50 tokens each)."""
    return [_SYSTEM, *(synthetic_text(50, 100 + i) for i in range(count))]


def test_nothing_is_cached_without_a_breakpoint() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    for _ in range(2):
        use = cache.use(_turn(3), [], now_s=0.0)
        assert (use.read_tokens, use.written_tokens) == (0, 0)
    assert len(cache) == 0


def test_a_marked_system_prompt_is_written_once_then_read() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    first = cache.use(_turn(1), [Breakpoint(0)], now_s=0.0)
    assert (first.read_tokens, first.written_tokens) == (0, 1500)
    other_session = [_SYSTEM, synthetic_text(80, 7)]
    second = cache.use(other_session, [Breakpoint(0)], now_s=10.0)
    assert (second.read_tokens, second.written_tokens) == (1500, 0)


def test_prefixes_shorter_than_the_minimum_are_not_cached() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    short = [synthetic_text(1000, 3), synthetic_text(20, 4)]
    for _ in range(2):
        use = cache.use(short, [Breakpoint(0)], now_s=0.0)
        assert (use.read_tokens, use.written_tokens) == (0, 0)
    # The same prefix marked further on (1,020 tokens + more) crosses the minimum.
    longer = [*short, synthetic_text(30, 5)]
    assert cache.use(longer, [Breakpoint(2)], now_s=0.0).written_tokens == 1050


def test_marking_the_last_message_reads_what_the_previous_turn_wrote() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    tokens_written = 0
    for count in range(1, 6):
        pieces = _turn(count)
        use = cache.use(pieces, [Breakpoint(0), Breakpoint(len(pieces) - 1)], now_s=count)
        total = 1500 + 50 * count
        if count == 1:
            assert (use.read_tokens, use.written_tokens) == (0, total)
        else:
            # Lookback from the last block finds the previous turn's last block.
            assert use.read_tokens == total - 50
            assert use.written_tokens == 50
        tokens_written += use.written_tokens
    assert tokens_written == 1500 + 50 * 5


def test_lookback_stops_after_twenty_blocks() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    cache.use(_turn(0), [Breakpoint(0)], now_s=0.0)
    near = _turn(LOOKBACK_BLOCKS)
    assert cache.use(near, [Breakpoint(len(near) - 1)], now_s=1.0).read_tokens == 1500
    cache.clear()
    cache.use(_turn(0), [Breakpoint(0)], now_s=0.0)
    far = _turn(LOOKBACK_BLOCKS + 1)
    use = cache.use(far, [Breakpoint(len(far) - 1)], now_s=1.0)
    assert use.read_tokens == 0 and use.written_tokens == 1500 + 50 * (LOOKBACK_BLOCKS + 1)


def test_entries_expire_after_their_ttl_unless_read() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    cache.use(_turn(0), [Breakpoint(0)], now_s=0.0)
    assert cache.use(_turn(0), [Breakpoint(0)], now_s=299.0).read_tokens == 1500
    # The read at 299 s refreshed the five minutes: still there at 598 s, gone at 900 s.
    assert cache.use(_turn(0), [Breakpoint(0)], now_s=598.0).read_tokens == 1500
    assert cache.use(_turn(0), [Breakpoint(0)], now_s=900.0).read_tokens == 0


def test_one_hour_entries_outlive_five_minute_ones_and_are_counted_apart() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    pieces = _turn(2)
    use = cache.use(pieces, [Breakpoint(0, TTL_1H_S), Breakpoint(2)], now_s=0.0)
    assert (use.written_tokens, use.written_1h_tokens) == (1600, 1500)
    later = cache.use(pieces, [Breakpoint(0, TTL_1H_S), Breakpoint(2)], now_s=1000.0)
    assert (later.read_tokens, later.written_tokens, later.written_1h_tokens) == (1500, 100, 0)


def test_capacity_evicts_the_least_recently_used_entry() -> None:
    cache = ExplicitCache(capacity=2, min_tokens=10)
    prompts = [[synthetic_text(20, seed)] for seed in (1, 2, 3)]
    for pieces in prompts[:2]:
        cache.use(pieces, [Breakpoint(0)], now_s=0.0)
    cache.use(prompts[0], [Breakpoint(0)], now_s=1.0)  # 0 is now the most recent
    cache.use(prompts[2], [Breakpoint(0)], now_s=2.0)  # evicts 1
    assert len(cache) == 2
    assert cache.use(prompts[0], [Breakpoint(0)], now_s=3.0).read_tokens == 20
    assert cache.use(prompts[1], [Breakpoint(0)], now_s=3.0).read_tokens == 0


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=8),
    marks=st.lists(st.integers(min_value=0, max_value=7), max_size=4),
    shared=st.integers(min_value=0, max_value=8),
)
def test_reads_and_writes_fit_in_the_prompt_and_end_on_block_boundaries(
    sizes: list[int], marks: list[int], shared: int
) -> None:
    cache = ExplicitCache(capacity=50, min_tokens=300)
    earlier = [synthetic_text(size, index) for index, size in enumerate(sizes)]
    cache.use(earlier, [Breakpoint(m) for m in marks], now_s=0.0)
    pieces = earlier[:shared] + [
        synthetic_text(size, 99 + i) for i, size in enumerate(sizes[shared:])
    ]
    use = cache.use(pieces, [Breakpoint(m) for m in marks], now_s=1.0)
    total = sum(sizes)
    bounds = {0, *(tokens for tokens, _ in boundary_digests(pieces))}
    assert use.read_tokens in bounds
    assert 0 <= use.written_1h_tokens <= use.written_tokens
    assert use.read_tokens + use.written_tokens <= total
    # Only what is the same as before can be read.
    assert use.read_tokens <= sum(sizes[:shared])


def test_lookup_changes_nothing_until_commit() -> None:
    cache = ExplicitCache(capacity=100, min_tokens=1024)
    pieces = _turn(1)
    first = cache.lookup(pieces, [Breakpoint(0)], now_s=0.0)
    again = cache.lookup(pieces, [Breakpoint(0)], now_s=0.0)
    assert (
        (first.read_tokens, first.written_tokens)
        == (again.read_tokens, again.written_tokens)
        == (0, 1500)
    )
    assert len(cache) == 0
    cache.commit(first, now_s=0.0)
    assert cache.lookup(pieces, [Breakpoint(0)], now_s=1.0).read_tokens == 1500
    # A lookup does not refresh either: the entry still expires five minutes after the write.
    cache.lookup(pieces, [Breakpoint(0)], now_s=299.0)
    assert cache.lookup(pieces, [Breakpoint(0)], now_s=301.0).read_tokens == 0
