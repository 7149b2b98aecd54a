"""Stop words of the mock: a planned answer's words and the request's stop entries (parsed by
``harness.api.requests.parse_stop``) in; where the first stop word falls out.

The mock's tokens are whole vocabulary words, so a stop entry is matched on words: generation
ends at the first generated word equal to an entry (surrounding whitespace ignored, case
respected). That word ends the answer and is neither sent nor counted, as OpenAI leaves the
stop sequence out of the text. Entries that are not a single vocabulary word never match.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contract.prompt_text import VOCABULARY


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
