"""Near-duplicates: a ``[workload.repeat]`` table in; sessions whose first turn repeats an
earlier request of the same workload, exactly or as a paraphrase, out.

Semantics (``RepeatBook.apply``, called on each session in session order):

- A session's first turn repeats with probability ``share``; otherwise it is an *original*
  and joins its workload's candidates. Later turns are the session's own (a follow-up
  question is not a repeat), and re-send the repeated first turn as their history.
- A repeat picks one earlier original of its workload with weight ``popularity x recency``:
  popularity is ``u ** -popularity_zipf_s`` for a uniform ``u`` drawn once per original, so
  ranked by popularity the originals' weights fall as ``rank ** -s`` (Zipf; 0 is uniform);
  recency is ``exp(-gap_s / recency)`` for the gap between the two sessions' planned starts
  (no ``recency``: no preference). Only originals are candidates, so a repeat of a repeat
  never happens: popular originals gather the repeats.
- With probability ``paraphrase_share`` the repeat is a paraphrase: its question (the last
  user message of the first turn) is reworded by ``workloads.paraphrase`` at a
  ``similarity`` drawn from its distribution (clipped to [0, 1]); the rest of the first turn
  (system prompt, documents, shared prefix) is the original's. Else it is exact: the
  original's first turn word for word (``similarity`` 1.0).
- Every first turn ends with a topic marker (``harness.contract.topic_marker``): originals
  name themselves, repeats their original and, for a paraphrase, the similarity. The plan
  records ``repeat_of`` and ``similarity`` on the repeating request.

Candidates are the ``MAX_CANDIDATES`` most recent originals of the workload (so planning
stays linear). The RNG of a session's repeat decision is its own stream
(``seeds.REPEATS``), so sessions of workloads without the table plan as before.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.contract.distributions import Dist, DistSpec, Quantity, Share
from harness.contract.prompt_text import count_tokens, synthetic_text
from harness.contract.records import PlannedMessage, PlannedRequest
from harness.contract.topic_marker import topic_marker
from workloads import seeds
from workloads.distributions import sample_float
from workloads.paraphrase import paraphrase

#: How many recent originals of a workload a repeat chooses among.
MAX_CANDIDATES = 4096


class RepeatSettings(BaseModel):
    """``[workload.repeat]``: which share of sessions repeat an earlier request, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: Share = 0.0
    paraphrase_share: Share = 0.0
    similarity: DistSpec = Field(default_factory=lambda: Dist(dist="uniform", min=0.8, max=0.99))
    popularity_zipf_s: float = Field(default=1.0, ge=0)
    #: The e-folding time of the gap law, in seconds (written with units); None: no preference.
    recency: Quantity | None = Field(default=None, gt=0)


class Repeatable(BaseModel):
    """The kinds that take a ``[workload.repeat]`` table (stream, chat, rag)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repeat: RepeatSettings | None = None


@dataclass(frozen=True, slots=True)
class _Original:
    request_id: str
    start_s: float
    messages: tuple[PlannedMessage, ...]
    weight: float


def _question_index(messages: tuple[PlannedMessage, ...]) -> int:
    """The last user message of a turn (-1 if none)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return -1


def _marked(messages: tuple[PlannedMessage, ...], marker: str) -> tuple[PlannedMessage, ...]:
    return (*messages, PlannedMessage(role="user", tokens=count_tokens(marker), content=marker))


def _reworded(
    messages: tuple[PlannedMessage, ...], similarity: float, rng: np.random.Generator
) -> tuple[PlannedMessage, ...]:
    """``messages`` with the question paraphrased at ``similarity``."""
    index = _question_index(messages)
    if index < 0:
        return messages
    question = messages[index]
    text = question.content or synthetic_text(question.tokens, question.seed)
    content = paraphrase(text, similarity, rng)
    new = PlannedMessage(role="user", tokens=count_tokens(content), content=content)
    return (*messages[:index], new, *messages[index + 1 :])


def _with_first_turn(
    session: list[PlannedRequest], messages: tuple[PlannedMessage, ...], **fields: object
) -> list[PlannedRequest]:
    """The session with its first turn's messages replaced (where later turns list the whole
    context, their copy too) and prompt sizes counted again."""
    old = session[0].messages
    out: list[PlannedRequest] = []
    history = 0
    for position, request in enumerate(session):
        own = request.messages
        if position == 0:
            own = messages
        elif not request.resend_history and own[: len(old)] == old:
            own = (*messages, *own[len(old) :])
        if not request.resend_history:
            history = 0
        history += sum(message.tokens for message in own)
        extra = fields if position == 0 else {}
        out.append(
            dataclasses.replace(request, messages=own, prompt_tokens=history, **extra)  # type: ignore[arg-type]
        )
    return out


class RepeatBook:
    """The originals of each workload so far; one book per plan, fed sessions in order."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._originals: dict[int, list[_Original]] = {}

    def apply(
        self,
        settings: RepeatSettings,
        workload_index: int,
        session_index: int,
        session: list[PlannedRequest],
    ) -> list[PlannedRequest]:
        """``session`` (its turns in order) as an original or a repeat (module docstring)."""
        if not session:
            return session
        rng = seeds.rng_stream(self._seed, seeds.REPEATS, session_index)
        draw, kind_draw = rng.random(2)
        originals = self._originals.setdefault(workload_index, [])
        first = session[0]
        if draw >= settings.share or not originals:
            weight = float(max(rng.random(), 1e-12) ** -settings.popularity_zipf_s)
            marked = _marked(first.messages, topic_marker(first.request_id))
            originals.append(_Original(first.request_id, first.offset_s, marked, weight))
            if len(originals) > 2 * MAX_CANDIDATES:
                del originals[:MAX_CANDIDATES]
            return _with_first_turn(session, marked)
        candidates = originals[-MAX_CANDIDATES:]
        weights = np.array([original.weight for original in candidates])
        if settings.recency is not None:
            gaps_s = first.offset_s - np.array([original.start_s for original in candidates])
            weights = weights * np.exp(-np.maximum(gaps_s, 0.0) / settings.recency)
        total = float(weights.sum())
        if not math.isfinite(total) or total <= 0:  # all too old to weigh: the newest
            original = candidates[-1]
        else:
            original = candidates[int(rng.choice(len(candidates), p=weights / total))]
        if kind_draw < settings.paraphrase_share:
            similarity = min(max(sample_float(settings.similarity, rng), 0.0), 1.0)
            similarity = round(similarity, 3)
        else:
            similarity = 1.0
        if similarity >= 1.0:
            return _with_first_turn(
                session, original.messages, repeat_of=original.request_id, similarity=1.0
            )
        bare = original.messages[:-1]  # without the original's own marker
        messages = _marked(
            _reworded(bare, similarity, rng), topic_marker(original.request_id, similarity)
        )
        return _with_first_turn(
            session, messages, repeat_of=original.request_id, similarity=similarity
        )
