"""One session of a scenario's workload mix: the scenario, a session index, its start and the
workload drawn for it in; that session's planned requests out (sub-agent sessions included).

Shared by the open-loop planner (``workloads.planner``, sessions at their arrival offsets) and
the closed loop (``workloads.closed_loop``, sessions drawn as slots free up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from harness.contract.records import PlannedRequest
from workloads import seeds
from workloads.embed import with_query_embeddings
from workloads.kinds import Workload, builder_for
from workloads.rag import RagWorkload
from workloads.repeats import Repeatable, RepeatBook
from workloads.session import SessionContext

#: The model a request names when neither the workload nor the target names one.
DEFAULT_MODEL = "mock-small"


def choose_workloads(shares: Sequence[float], count: int, rng: np.random.Generator) -> list[int]:
    """For ``count`` sessions, the index of the workload each runs, drawn by normalised share.

    One uniform draw per session, in session order, so the first sessions' choices do not
    depend on how many sessions follow (nor on drawing them in one call or several).
    """
    weights = np.asarray(shares, dtype=float)
    cumulative = np.cumsum(weights / weights.sum())
    draws = rng.random(count)
    picks = np.searchsorted(cumulative, draws, side="right")
    # Rounding can leave the last cumulative weight a hair under 1.
    return [int(pick) for pick in np.minimum(picks, len(shares) - 1)]


def workload_tags(workload: Workload) -> dict[str, str]:
    """The tags a workload's requests carry: its own, plus ``workload`` = kind unless given."""
    tags = dict(workload.tags)
    tags.setdefault("workload", workload.kind)
    return tags


def session_requests(
    scenario_seed: int,
    target: tuple[str, str | None, bool],
    workload: Workload,
    tags: Mapping[str, str],
    index: int,
    start_s: float,
    choice: int,
    repeats: RepeatBook | None = None,
) -> list[PlannedRequest]:
    """The requests of session ``index`` running ``workload`` (number ``choice`` of the mix)
    from ``start_s``; ``target`` is the scenario's (api, model, stream). With a ``repeats``
    book, a workload's ``[workload.repeat]`` table applies (``workloads.repeats``)."""
    api, target_model, stream = target
    context = SessionContext(
        session_id=f"s{index:06d}",
        session_index=index,
        start_s=start_s,
        api=api,
        model=workload.model or target_model or DEFAULT_MODEL,
        stream=stream,
        seed=scenario_seed,
        workload_index=choice,
        workload_name=tags["workload"],
        tags=tags,
    )
    rng = seeds.rng_stream(scenario_seed, seeds.SESSION, index)
    requests = builder_for(workload.kind)(workload, context, rng)
    if repeats is not None and isinstance(workload, Repeatable) and workload.repeat is not None:
        requests = repeats.apply(workload.repeat, choice, index, requests)
    if isinstance(workload, RagWorkload) and workload.embed_query:
        requests = with_query_embeddings(requests, workload.embed_model)
    return requests
