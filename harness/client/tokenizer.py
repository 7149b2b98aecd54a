"""The tokens prompts are sized and counted in: a planned size and seed in, the prompt text out;
a text in, its token count out. The mock's whitespace words by default, or a local Hugging
Face ``tokenizer.json`` (``[target] tokenizer``), read from disk and never downloaded.

Under a real tokenizer the mock's words are 2 to 3 tokens each, so a prompt planned as 256
tokens is cut to the longest run of the same words that stays within 256 of its tokens
(short by less than one word): the prompt a user asks for is the prompt the model sees.
Equal ``(tokens, seed)`` still give equal text, so shared prefixes stay shared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from harness.contract.prompt_text import count_tokens, synthetic_text

#: Prompt texts kept per run (the same bound as ``synthetic_text``'s own cache).
TEXT_CACHE_SIZE = 4096
#: How many times the words are doubled when a tokenizer merges them into fewer tokens.
_MAX_DOUBLINGS = 6
MOCK_TOKENIZER = "mock"


class TokenizerError(ValueError):
    """A tokenizer file could not be loaded; ``str()`` is one line naming it and the fix."""


class PromptTokenizer(Protocol):
    """How prompts are sized (``text``) and counted (``count``), and what to call it."""

    @property
    def name(self) -> str: ...

    def text(self, tokens: int, seed: int) -> str: ...

    def count(self, text: str) -> int: ...


class MockTokenizer:
    """The mock's own tokenizer: one token per whitespace-separated word."""

    name = MOCK_TOKENIZER

    def text(self, tokens: int, seed: int) -> str:
        return synthetic_text(tokens, seed)

    def count(self, text: str) -> int:
        return count_tokens(text)


class FileTokenizer:
    """A Hugging Face ``tokenizer.json`` (the ``tokenizers`` package, no network)."""

    def __init__(self, path: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise TokenizerError(
                f"target.tokenizer: {path} needs the tokenizers package: "
                "pip install 'tokenstorm[tokenizer]' (or leave tokenizer out for the mock's)"
            ) from None
        if not path.is_file():
            raise TokenizerError(f"target.tokenizer: {path}: no such file")
        try:
            self._tokenizer: Any = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises its own exception type
            raise TokenizerError(
                f"target.tokenizer: {path} is not a tokenizer.json ({exc})"[:300]
            ) from None
        self.name = path.name
        self.text: Callable[[int, int], str] = functools.lru_cache(maxsize=TEXT_CACHE_SIZE)(
            self._fit
        )

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _fit(self, tokens: int, seed: int) -> str:
        """The longest whole-word start of the seed's words within ``tokens`` tokens."""
        if tokens <= 0:
            return ""
        words = tokens
        for _ in range(_MAX_DOUBLINGS):
            text = synthetic_text(words, seed)
            encoding = self._tokenizer.encode(text, add_special_tokens=False)
            if len(encoding.ids) > tokens:
                break
            if len(encoding.ids) == tokens:
                return text
            words *= 2
        else:
            return text  # a tokenizer that merges words: as close as it gets
        start = int(encoding.offsets[tokens][0])  # the first character over the budget
        cut = text[:start]
        if cut and not cut[-1].isspace() and not text[start].isspace():
            cut = cut[: cut.rfind(" ") + 1]  # that token is inside a word: drop the word
        return cut.rstrip()


def load_tokenizer(path: str | None) -> PromptTokenizer:
    """The tokenizer ``[target] tokenizer`` names (None: the mock's); ``TokenizerError``."""
    return MockTokenizer() if path is None else FileTokenizer(Path(path))
