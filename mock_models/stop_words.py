"""Stop words of the mock: a request's ``stop`` / ``stop_sequences`` value in, checked stop
entries out; and, for a planned answer's words, where the first stop word falls.

The mock's tokens are whole vocabulary words, so a stop entry is matched on words: generation
ends at the first generated word equal to an entry (surrounding whitespace ignored, case
respected). That word ends the answer and is neither sent nor counted, as OpenAI leaves the
stop sequence out of the text. Entries that are not a single vocabulary word never match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.contract.prompt_text import VOCABULARY
from mock_models.flavour import ErrorKind, RequestError

_MAX_ENTRIES = 16


def parse_stop(value: Any, name: str) -> tuple[str, ...]:
    """``value`` (null, a string or a list of strings) as stop entries, or a 400 naming
    ``name``."""
    if value is None:
        return ()
    entries = [value] if isinstance(value, str) else value
    if (
        not isinstance(entries, list)
        or len(entries) > _MAX_ENTRIES
        or not all(isinstance(entry, str) for entry in entries)
    ):
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"{name}: must be a string or a list of at most {_MAX_ENTRIES} strings, got {value!r}.",
            name,
        )
    return tuple(entry for entry in entries if entry.strip())


def first_stop(words: Sequence[int], stop: tuple[str, ...]) -> tuple[int, str] | None:
    """The index of the first word of ``words`` (``VOCABULARY`` indices) that is a stop entry,
    and the entry as the request spelled it; None when no word is."""
    by_word: dict[str, str] = {}
    for entry in stop:
        by_word.setdefault(entry.strip(), entry)
    if not by_word:
        return None
    for index, word in enumerate(words):
        found = by_word.get(VOCABULARY[word])
        if found is not None:
            return index, found
    return None
