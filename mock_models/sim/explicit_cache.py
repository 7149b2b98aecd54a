"""Anthropic-style explicit prompt caching for one deployment: a prompt's content blocks and its
``cache_control`` breakpoints in; the tokens read from and written to the cache out.

Pure (the time is passed in). The rules follow Anthropic's documentation of prompt caching:

- Nothing is cached without a breakpoint. A breakpoint on block ``i`` makes the prefix ending
  with that block an entry (a hash of every block up to it), if that prefix is at least
  ``min_tokens`` long (1,024 for most Claude models, 2,048 for Haiku).
- A read is the longest earlier entry found at a block boundary at or before a breakpoint,
  looking back at most ``LOOKBACK_BLOCKS`` blocks from each breakpoint: so marking only the
  last message of a growing conversation still reads what the previous turn wrote.
- The tokens from the read up to the last breakpoint are written (``cache_creation``); the
  rest of the prompt is plain input. A read refreshes its entry's lifetime (5 minutes, or one
  hour for ``ttl = "1h"``); entries beyond ``capacity`` are evicted oldest first.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from harness.api.requests import TTL_5M_S, Breakpoint

LOOKBACK_BLOCKS = 20


@dataclass(frozen=True, slots=True)
class CacheUse:
    """What one prompt did with the cache, in tokens (read + written <= prompt); of the
    written tokens, ``written_1h_tokens`` went to one-hour entries."""

    read_tokens: int
    written_tokens: int
    written_1h_tokens: int = 0
    #: Entries to refresh (the ones read) and to store, with their lifetimes (``commit``).
    touched: tuple[tuple[bytes, float], ...] = ()


def boundary_digests(pieces: Sequence[str]) -> list[tuple[int, bytes]]:
    """For each block, the tokens up to and including it and a digest chained over them."""
    out: list[tuple[int, bytes]] = []
    previous = b""
    tokens = 0
    for piece in pieces:
        words = piece.split()
        tokens += len(words)
        previous = hashlib.blake2b(
            previous + "\x1f".join(words).encode() + b"\x1e", digest_size=12
        ).digest()
        out.append((tokens, previous))
    return out


class ExplicitCache:
    """Entries (prefix digests) with an expiry time each, at most ``capacity`` of them."""

    __slots__ = ("_entries", "capacity", "min_tokens")

    def __init__(self, capacity: int, min_tokens: int) -> None:
        self.capacity = capacity
        self.min_tokens = min_tokens
        self._entries: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def use(
        self, pieces: Sequence[str], breakpoints: Sequence[Breakpoint], now_s: float
    ) -> CacheUse:
        """``lookup`` and ``commit`` at once."""
        found = self.lookup(pieces, breakpoints, now_s)
        self.commit(found, now_s)
        return found

    def lookup(
        self, pieces: Sequence[str], breakpoints: Sequence[Breakpoint], now_s: float
    ) -> CacheUse:
        """What the prompt would read and write, changing nothing: a request refused before
        its prefill (a full queue) must neither refresh nor create entries."""
        marks = sorted(
            (b for b in breakpoints if 0 <= b.block_index < len(pieces)),
            key=lambda b: b.block_index,
        )
        if not marks or self.capacity <= 0:
            return CacheUse(0, 0)
        bounds = boundary_digests(pieces)
        read_tokens = 0
        touched: list[tuple[bytes, float]] = []
        for mark in marks:
            hit = self._hit(bounds, mark.block_index, now_s)
            if hit is not None:
                tokens, digest, ttl_s = hit
                touched.append((digest, ttl_s))  # a read refreshes the entry's lifetime
                read_tokens = max(read_tokens, tokens)
        written = written_1h = 0
        start_tokens = read_tokens
        for mark in marks:
            tokens, digest = bounds[mark.block_index]
            if tokens < self.min_tokens:
                continue
            touched.append((digest, mark.ttl_s))
            # Each breakpoint writes the tokens between the previous one (or the read) and it.
            segment = max(0, tokens - start_tokens)
            start_tokens = max(start_tokens, tokens)
            written += segment
            if mark.ttl_s > TTL_5M_S:
                written_1h += segment
        return CacheUse(read_tokens, written, written_1h, tuple(touched))

    def commit(self, found: CacheUse, now_s: float) -> None:
        """Refresh the entries ``found`` read and store those it writes."""
        for digest, ttl_s in found.touched:
            self._store(digest, now_s, ttl_s)

    def _hit(
        self, bounds: list[tuple[int, bytes]], block_index: int, now_s: float
    ) -> tuple[int, bytes, float] | None:
        """The longest live entry at or up to ``LOOKBACK_BLOCKS`` blocks before the mark."""
        entries = self._entries
        for index in range(block_index, max(-1, block_index - LOOKBACK_BLOCKS - 1), -1):
            tokens, digest = bounds[index]
            held = entries.get(digest)
            if held is not None and held[0] > now_s:
                return tokens, digest, held[1]
        return None

    def _store(self, digest: bytes, now_s: float, ttl_s: float) -> None:
        entries = self._entries
        held = entries.get(digest)
        keep_s = max(ttl_s, held[1]) if held is not None else ttl_s
        entries[digest] = (now_s + keep_s, keep_s)
        entries.move_to_end(digest)
        while len(entries) > self.capacity:
            entries.popitem(last=False)
