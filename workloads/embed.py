"""The ``embed`` workload (ingestion) and the query embeddings of ``rag``: configs and the
session's RNG in, planned ``/v1/embeddings`` requests out.

An ``embed`` session is one batch: ``batch_size`` consecutive documents of a pool of
``documents``, from a random start, sent as one embeddings request of that many inputs. The
pool is re-embedded continuously, rather than on demand: how often batches come is the
scenario's arrival process (steady, or diurnal with an ``[arrival] shape``) times the
workload's share. Document ``i`` has the same size and text in every batch.

``embed_query`` on ``rag``: before each turn's chat request, the turn's question (with its
topic marker, when the workload repeats) goes to ``/v1/embeddings`` as one request of the
same session (named ``<chat request id>-embed``); the chat request follows at once when it
is answered. The embedding request
is sent beside the conversation: the engine never puts it in the chat history.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from pydantic import Field

from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.distributions import Dist, DistSpec
from harness.contract.prompt_text import count_tokens, synthetic_text
from harness.contract.records import PlannedMessage, PlannedRequest
from harness.contract.topic_marker import find_topic_marker
from workloads import seeds
from workloads.distributions import sample_int
from workloads.kind_base import WorkloadBase
from workloads.session import SessionContext

#: Shared-seed slots of ingestion documents start here (apart from ``rag``'s documents).
EMBED_SLOT_BASE = 2_000_000


class EmbedWorkload(WorkloadBase):
    """Ingestion: batches of ``batch_size`` pool documents re-embedded continuously."""

    kind: Literal["embed"]
    documents: int = Field(default=1000, ge=1)
    batch_size: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=16))
    document_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=0.5)
    )


def _document(cfg: EmbedWorkload, ctx: SessionContext, doc_id: int) -> PlannedMessage:
    rng = seeds.rng_stream(ctx.seed, seeds.DOCUMENTS, ctx.workload_index, doc_id)
    return PlannedMessage(
        role="user",
        tokens=max(sample_int(cfg.document_tokens, rng), 1),
        seed=ctx.shared_seed(EMBED_SLOT_BASE + doc_id),
    )


def build_embed_batch(
    cfg: EmbedWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """One embeddings request of ``batch_size`` consecutive pool documents (wrapping)."""
    size = min(max(sample_int(cfg.batch_size, rng), 1), cfg.documents)
    start = int(rng.integers(0, cfg.documents))
    messages = tuple(_document(cfg, ctx, (start + k) % cfg.documents) for k in range(size))
    return [
        PlannedRequest(
            request_id=f"{ctx.session_id}-t1",
            session_id=ctx.session_id,
            turn=1,
            offset_s=ctx.start_s,
            think_s=0.0,
            prompt_tokens=sum(m.tokens for m in messages),
            max_tokens=0,
            model=ctx.model,
            api=OPENAI_EMBEDDINGS,
            stream=False,
            messages=messages,
            tags=dict(ctx.tags),
        )
    ]


def _query(messages: tuple[PlannedMessage, ...]) -> PlannedMessage:
    """The question a chat turn asks (with the topic marker after it, when there is one)."""
    last = messages[-1]
    if len(messages) >= 2 and find_topic_marker(last.content) is not None:
        question = messages[-2]
        text = question.content or synthetic_text(question.tokens, question.seed)
        content = f"{text} {last.content}"
        return PlannedMessage(role="user", tokens=count_tokens(content), content=content)
    return last


def with_query_embeddings(
    session: list[PlannedRequest], model: str | None = None
) -> list[PlannedRequest]:
    """``session`` with an embeddings request (naming ``model``, else the turn's) of each
    turn's question before that turn. Turns are renumbered (the embedding is turn 2k-1, its
    chat turn 2k); a chat request keeps its id (which ``repeat_of`` and topic markers name),
    and its embedding is named after it: ``<chat request id>-embed``."""
    out: list[PlannedRequest] = []
    for request in session:
        query = _query(request.messages)
        embed_turn = len(out) + 1
        out.append(
            dataclasses.replace(
                request,
                request_id=f"{request.request_id}-embed",
                turn=embed_turn,
                prompt_tokens=query.tokens,
                max_tokens=0,
                model=model or request.model,
                api=OPENAI_EMBEDDINGS,
                stream=False,
                messages=(query,),
                resend_history=True,
            )
        )
        out.append(
            dataclasses.replace(
                request,
                turn=embed_turn + 1,
                think_s=0.0,
            )
        )
    return out
