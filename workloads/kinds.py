"""The workload kinds: each kind's module holds its config model and its session builder,
and this table registers them; the scenario's ``[[workload]]`` union is built from it.

A new kind is one module (a pydantic model with ``kind: Literal[...]`` and a builder) plus
one line in ``KINDS`` and one member in ``Workload``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from harness.contract.records import PlannedRequest
from workloads.agent_loop import AgentLoopWorkload, build_agent_session
from workloads.batch import BatchWorkload, build_batch_job
from workloads.chat import ChatWorkload, build_chat_session
from workloads.embed import EmbedWorkload, build_embed_batch
from workloads.probe import ProbeWorkload, build_probe_session
from workloads.rag import RagWorkload, build_rag_session
from workloads.session import SessionContext
from workloads.stream import StreamWorkload, build_stream_session

#: A builder takes the workload's validated config, the session context and the session's
#: own RNG, and returns that session's planned requests in turn order.
SessionBuilder = Callable[[Any, SessionContext, np.random.Generator], list[PlannedRequest]]

Workload = Annotated[
    StreamWorkload
    | ChatWorkload
    | AgentLoopWorkload
    | RagWorkload
    | BatchWorkload
    | EmbedWorkload
    | ProbeWorkload,
    Field(discriminator="kind"),
]

#: kind -> (config model, session builder), in the order the docs list them.
KINDS: dict[str, tuple[type[Any], SessionBuilder]] = {
    "stream": (StreamWorkload, build_stream_session),
    "chat": (ChatWorkload, build_chat_session),
    "agent_loop": (AgentLoopWorkload, build_agent_session),
    "rag": (RagWorkload, build_rag_session),
    "batch": (BatchWorkload, build_batch_job),
    "embed": (EmbedWorkload, build_embed_batch),
    "probe": (ProbeWorkload, build_probe_session),
}
WORKLOAD_KINDS = tuple(KINDS)


def builder_for(kind: str) -> SessionBuilder:
    """The session builder of ``kind``; ``KeyError`` naming the known kinds otherwise."""
    try:
        return KINDS[kind][1]
    except KeyError:
        raise KeyError(
            f"no session builder for workload kind {kind!r} (known: {', '.join(KINDS)})"
        ) from None
