"""Paraphrases written by the project itself: a text, a target similarity and an RNG in, the
same text in other words out. No model: word-level edits only.

Each word is edited with probability ``min(1, 2 * (1 - similarity))``, so a paraphrase at
0.95 changes about one word in ten and one at 0.5 or less changes them all. An edit is one of:

- a synonym from ``SYNONYMS`` (a short English list we wrote) when the word has one; words of
  the synthetic prompt vocabulary (``harness.contract.prompt_text``) have a fixed partner
  word in that vocabulary, their "synonym";
- else a swap with the next word (reordering), or a different vocabulary word.

The word count never changes, so a paraphrase is exactly as many tokens as its original under
the mock's tokenizer. Deterministic for a given RNG state. How similar the embeddings are is
not left to the words: the topic marker (``harness.contract.topic_marker``) says it.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from harness.contract.prompt_text import VOCABULARY

_PAIRS: Final = (
    ("explain", "describe"),
    ("quick", "fast"),
    ("big", "large"),
    ("small", "little"),
    ("help", "assist"),
    ("show", "display"),
    ("buy", "purchase"),
    ("begin", "start"),
    ("end", "finish"),
    ("error", "fault"),
    ("answer", "reply"),
    ("question", "query"),
    ("need", "require"),
    ("use", "employ"),
    ("make", "create"),
    ("get", "obtain"),
    ("find", "locate"),
    ("fix", "repair"),
    ("cheap", "inexpensive"),
    ("price", "cost"),
    ("simple", "easy"),
    ("hard", "difficult"),
    ("car", "automobile"),
    ("doctor", "physician"),
    ("happy", "glad"),
    ("choose", "pick"),
    ("mistake", "error"),
    ("order", "request"),
    ("account", "profile"),
    ("refund", "reimbursement"),
    ("password", "passphrase"),
    ("delivery", "shipment"),
    ("cancel", "revoke"),
    ("problem", "issue"),
    ("please", "kindly"),
    ("how", "in what way"),
)

#: word -> synonym (one word each way; multi-word synonyms are left out to keep word counts).
SYNONYMS: Final[dict[str, str]] = {
    **{a: b for a, b in _PAIRS if " " not in b},
    **{b: a for a, b in _PAIRS if " " not in b},
}
_VOCABULARY_INDEX: Final = {word: index for index, word in enumerate(VOCABULARY)}


def edit_probability(similarity: float) -> float:
    """The share of words a paraphrase at ``similarity`` edits."""
    return float(min(1.0, max(0.0, 2.0 * (1.0 - similarity))))


def _synonym(word: str) -> str | None:
    lower = word.lower()
    if lower in SYNONYMS:
        found = SYNONYMS[lower]
        return found.capitalize() if word[:1].isupper() else found
    index = _VOCABULARY_INDEX.get(word)
    if index is None:
        return None
    partner = index ^ 1
    return VOCABULARY[partner] if partner < len(VOCABULARY) else VOCABULARY[index - 1]


def paraphrase(text: str, similarity: float, rng: np.random.Generator) -> str:
    """``text`` with a share ``edit_probability(similarity)`` of its words edited."""
    words = text.split()
    if not words:
        return text
    edit = rng.random(len(words)) < edit_probability(similarity)
    choices = rng.random(len(words))
    replacements = rng.integers(0, len(VOCABULARY), size=len(words))
    index = 0
    while index < len(words):
        if edit[index]:
            synonym = _synonym(words[index])
            if synonym is not None:
                words[index] = synonym
            elif choices[index] < 0.5 and index + 1 < len(words):
                words[index], words[index + 1] = words[index + 1], words[index]
                index += 1  # the swapped-in word is not edited again
            else:
                replacement = VOCABULARY[int(replacements[index])]
                if replacement == words[index]:
                    replacement = VOCABULARY[(int(replacements[index]) + 1) % len(VOCABULARY)]
                words[index] = replacement
        index += 1
    return " ".join(words)
