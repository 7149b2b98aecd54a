"""The topic marker: how a planned near-duplicate tells an embedding model which request it
repeats and how similar it is meant to be, in the prompt text itself.

Every request of a workload with ``[workload.repeat]`` ends its prompt with a marker
``[tokenstorm topic=ID]`` (ID: the request id of the original), and a paraphrase with
``[tokenstorm topic=ID similarity=0.930]``. A marker counts only where it ends the text (the
``[tokenstorm run=.. request=..]`` tag aside), so a later turn that re-sends a marked turn in
its history is not taken for that turn. Being text, the marker passes through any gateway that
forwards the body, including ones that drop unknown headers; the mock's embeddings read it
(``mock_models.sim.embeddings``) to answer with a vector of the planned cosine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: A request tag (``target.tag_prompt``), removed before looking for the marker.
_REQUEST_TAG: Final = re.compile(r"\s*\[tokenstorm run=[A-Za-z0-9._-]+ request=[^\]\s]+\]")
_MARKER_AT_END: Final = re.compile(
    r"\[tokenstorm topic=([A-Za-z0-9._-]+)(?: similarity=([01](?:\.[0-9]+)?))?\]\s*$"
)


@dataclass(frozen=True, slots=True)
class TopicMarker:
    """An original (``similarity`` None) or a paraphrase of ``topic`` at ``similarity``."""

    topic: str
    similarity: float | None = None


def topic_marker(topic: str, similarity: float | None = None) -> str:
    """The marker text (similarity written with three decimals, 1.0 counts as exact)."""
    if similarity is None or similarity >= 1.0:
        return f"[tokenstorm topic={topic}]"
    return f"[tokenstorm topic={topic} similarity={max(similarity, 0.0):.3f}]"


def strip_request_tags(text: str) -> str:
    """``text`` without its ``[tokenstorm run=.. request=..]`` tags."""
    return _REQUEST_TAG.sub("", text)


def find_topic_marker(text: str) -> TopicMarker | None:
    """The marker ending ``text`` (request tags aside), or None."""
    found = _MARKER_AT_END.search(strip_request_tags(text))
    if found is None:
        return None
    similarity = None if found.group(2) is None else min(float(found.group(2)), 1.0)
    return TopicMarker(found.group(1), similarity)
