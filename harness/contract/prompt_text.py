"""Prompt text of an exact token count under the mock's tokenizer, synthesised from a seed.

The mock counts tokens as whitespace-separated words (``count_tokens``), so a text of N words
is N tokens there. Words come from a fixed vocabulary with a Zipf-like frequency, so prompts
look varied and compress like text, and equal ``(tokens, seed)`` always give equal text:
that is how a plan expresses shared prefixes without storing them.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

_ONSETS = ("b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "n", "r", "s", "t", "l", "nd", "rk")


def _build_vocabulary() -> tuple[str, ...]:
    syllables = ["".join(p) for p in itertools.product(_ONSETS, _VOWELS, _CODAS)]
    short = syllables[:600]
    two = [a + b for a, b in itertools.islice(itertools.product(short[:60], short[:40]), 1400)]
    return tuple(short + two)


VOCABULARY: tuple[str, ...] = _build_vocabulary()
_WEIGHTS = 1.0 / np.arange(1, len(VOCABULARY) + 1) ** 0.9
_WEIGHTS /= _WEIGHTS.sum()
_VOCAB_ARRAY = np.array(VOCABULARY, dtype=object)


def count_tokens(text: str) -> int:
    """The mock's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


@functools.lru_cache(maxsize=4096)
def synthetic_text(tokens: int, seed: int) -> str:
    """Exactly ``tokens`` words (``count_tokens`` of the result == ``tokens``)."""
    if tokens <= 0:
        return ""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(VOCABULARY), size=tokens, p=_WEIGHTS)
    return " ".join(_VOCAB_ARRAY[picks])
