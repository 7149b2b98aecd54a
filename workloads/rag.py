"""The ``rag`` workload: a RagWorkload config and a session's RNG in, the planned turns of
one retrieval-augmented session out (retrieved documents and a question, then follow-ups).

Documents come from a pool shared by every session of the workload: document ``i`` always has
the same size and text (both derived from the scenario seed and ``i``), and documents are
drawn by Zipf popularity and sent in pool order, so popular documents form prefixes that
repeat across sessions the way a retrieval cache sees them. A follow-up retrieves documents
the session has not sent yet, asks another question and re-sends the history. With
``context_window_tokens``, turns that would overflow the window drop or summarise the oldest
turns, their documents included (``workloads.context_window``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from harness.contract.distributions import Dist, DistSpec
from harness.contract.records import PlannedMessage, PlannedRequest
from workloads import seeds
from workloads.context_window import fit_to_window
from workloads.distributions import sample_duration_s, sample_int
from workloads.kind_base import ContextWindowSettings, WorkloadBase
from workloads.repeats import Repeatable
from workloads.session import SessionContext, Turn


class RagWorkload(WorkloadBase, ContextWindowSettings, Repeatable):
    """Retrieval-augmented requests: a question after ``documents_per_request`` documents
    drawn from a pool of ``documents`` shared by all sessions (popularity Zipf with exponent
    ``document_zipf_s``; 0 is uniform), so popular documents repeat as cacheable prefixes.

    A session has ``turns`` turns (default 1): each follow-up, ``think_time`` after the
    previous answer, retrieves ``follow_up_documents`` more pool documents the session has not
    seen yet, asks a new question, and re-sends the history; ``context_window_tokens`` keeps a
    long session within the model's window (older documents and questions go first)."""

    kind: Literal["rag"]
    system_prompt_tokens: int = Field(default=300, ge=0)
    documents: int = Field(default=200, ge=1)
    documents_per_request: int = Field(default=4, ge=1)
    document_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=600, sigma=0.5)
    )
    document_zipf_s: float = Field(default=1.0, ge=0)
    question_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=40, sigma=0.6)
    )
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=1))
    think_time: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=2.0, sigma=0.6)
    )
    follow_up_documents: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=1))
    #: Each turn first embeds its question (``/v1/embeddings``), then asks (``workloads.embed``).
    embed_query: bool = False
    #: The model the query embeddings name (None: the workload's model).
    embed_model: str | None = None

    @model_validator(mode="after")
    def _enough_documents(self) -> RagWorkload:
        if self.documents_per_request > self.documents:
            raise ValueError("documents_per_request must not exceed documents (the pool size)")
        return self


#: Shared-seed slots of documents start here (0: system prompt, 1: shared prompt prefix).
DOCUMENT_SLOT_BASE = 1_000_000


def document_weights(cfg: RagWorkload) -> np.ndarray:
    """Retrieval probability of each pool document: Zipf with exponent ``document_zipf_s``."""
    ranks = np.arange(1, cfg.documents + 1, dtype=float)
    weights = np.power(ranks, -cfg.document_zipf_s)
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def document(cfg: RagWorkload, ctx: SessionContext, doc_id: int) -> PlannedMessage:
    """Pool document ``doc_id``: the same size and text in every session."""
    rng = seeds.rng_stream(ctx.seed, seeds.DOCUMENTS, ctx.workload_index, doc_id)
    return PlannedMessage(
        role="user",
        tokens=sample_int(cfg.document_tokens, rng),
        seed=ctx.shared_seed(DOCUMENT_SLOT_BASE + doc_id),
    )


def _follow_up_documents(
    cfg: RagWorkload, ctx: SessionContext, seen: set[int], count: int, rng: np.random.Generator
) -> list[PlannedMessage]:
    """Up to ``count`` pool documents not in ``seen`` (drawn by popularity, added to it), in
    pool order."""
    count = min(count, cfg.documents - len(seen))
    if count <= 0:
        return []
    weights = document_weights(cfg)
    weights[sorted(seen)] = 0.0
    picks = rng.choice(cfg.documents, size=count, replace=False, p=weights / weights.sum())
    seen.update(int(doc_id) for doc_id in picks)
    return [document(cfg, ctx, int(doc_id)) for doc_id in sorted(picks)]


def build_rag_session(
    cfg: RagWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """System prompt, ``documents_per_request`` pool documents (in pool order), a question;
    then ``turns - 1`` follow-ups, each with new documents and a question; fitted to
    ``context_window_tokens`` when set."""
    picks = rng.choice(
        cfg.documents, size=cfg.documents_per_request, replace=False, p=document_weights(cfg)
    )
    messages: list[PlannedMessage] = []
    if cfg.system_prompt_tokens > 0:
        messages.append(
            PlannedMessage(role="system", tokens=cfg.system_prompt_tokens, seed=ctx.shared_seed(0))
        )
    messages.extend(document(cfg, ctx, int(doc_id)) for doc_id in sorted(picks))
    question = sample_int(cfg.question_tokens, rng)
    messages.append(PlannedMessage(role="user", tokens=question, seed=ctx.unique_seed(1, 0)))
    max_tokens = sample_int(cfg.max_tokens, rng)
    turns = [Turn(messages=tuple(messages), think_s=0.0, max_tokens=max_tokens)]
    # Follow-ups draw after everything turn 1 drew, so one-turn sessions plan as before.
    seen = {int(doc_id) for doc_id in picks}
    for turn_number in range(2, max(sample_int(cfg.turns, rng), 1) + 1):
        documents = _follow_up_documents(
            cfg, ctx, seen, sample_int(cfg.follow_up_documents, rng), rng
        )
        question_message = PlannedMessage(
            role="user",
            tokens=sample_int(cfg.question_tokens, rng),
            seed=ctx.unique_seed(turn_number, 0),
        )
        think_s = sample_duration_s(cfg.think_time, rng)
        turns.append(
            Turn(
                messages=(*documents, question_message),
                think_s=think_s,
                max_tokens=sample_int(cfg.max_tokens, rng),
            )
        )
    return ctx.requests(fit_to_window(turns, cfg, ctx))
