"""A deployment's prefix cache: the prompt's text in; how many leading prompt tokens are already
cached out, with the prompt's blocks then remembered in LRU order up to a capacity.

Pure. Like vLLM's automatic prefix caching, the prompt is cut into full blocks of
``block_size_tokens`` tokens and block ``i`` is keyed by a hash chained over blocks ``0..i``,
so a block only hits when everything before it matched too. Blocks are remembered when a
request is admitted, not when its prefill completes: two identical prompts arriving together
both count the second as a hit (a simplification).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

from mock_models.sim.explicit_cache import ExplicitCache

#: Anthropic's smallest cacheable prompt for most models (2,048 for Haiku).
EXPLICIT_MIN_TOKENS = 1024


def block_hashes(pieces: Iterable[str], block_size_tokens: int) -> list[bytes]:
    """Chained digests of the prompt's full blocks (tokens: whitespace-separated words)."""
    words = [word for piece in pieces for word in piece.split()]
    hashes: list[bytes] = []
    previous = b""
    for start in range(0, len(words) - block_size_tokens + 1, block_size_tokens):
        block = "\x1f".join(words[start : start + block_size_tokens]).encode()
        previous = hashlib.blake2b(previous + block, digest_size=12).digest()
        hashes.append(previous)
    return hashes


class PrefixCache:
    """LRU set of block hashes, at most ``capacity_blocks`` of them; beside it the same
    deployment's explicit cache (Anthropic's ``cache_control``), as many entries at most."""

    __slots__ = ("_blocks", "block_size_tokens", "capacity_blocks", "explicit")

    def __init__(
        self,
        capacity_blocks: int,
        block_size_tokens: int,
        explicit_min_tokens: int = EXPLICIT_MIN_TOKENS,
    ) -> None:
        self.capacity_blocks = capacity_blocks
        self.block_size_tokens = block_size_tokens
        self._blocks: OrderedDict[bytes, None] = OrderedDict()
        self.explicit = ExplicitCache(capacity_blocks, explicit_min_tokens)

    def __len__(self) -> int:
        return len(self._blocks)

    def cached_tokens(self, hashes: list[bytes], prompt_tokens: int) -> int:
        """Leading prompt tokens held in cache (never the whole prompt: as in vLLM, the last
        token is always computed, so a full hit gives back its last block)."""
        matched = 0
        for digest in hashes:
            if digest not in self._blocks:
                break
            matched += 1
        cached = matched * self.block_size_tokens
        if cached >= prompt_tokens and matched:
            cached -= self.block_size_tokens
        return max(0, cached)

    def remember(self, hashes: list[bytes]) -> None:
        """Mark the blocks most recently used (adding the missing ones), evicting the oldest."""
        blocks = self._blocks
        for digest in hashes:
            if digest in blocks:
                blocks.move_to_end(digest)
            else:
                blocks[digest] = None
        while len(blocks) > self.capacity_blocks:
            blocks.popitem(last=False)

    def clear(self) -> None:
        self._blocks.clear()
        self.explicit.clear()
