"""Everything random about one attempt, decided up front: the seed, the attempt's ids and a
parsed request in; an ``AttemptPlan`` (fault draw, latency, answer words) out.

Pure apart from ``RepeatCounter``'s bookkeeping. The RNG of an attempt is seeded from a stable
hash of (mock seed, request id, attempt number, repeat), so runs with the same seed and ids get
the same faults, lengths and jitter; ``repeat`` counts earlier arrivals of the same
(request id, attempt) so that a gateway retrying without changing the headers gets fresh draws
instead of the same fault again.
"""

from __future__ import annotations

import dataclasses
import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.api.requests import ParsedRequest
from harness.contract.prompt_text import VOCABULARY
from mock_models.settings import DeploymentSettings
from mock_models.sim.latency import LatencyDraw, draw_latency, natural_output_tokens
from mock_models.sim.stop_words import first_stop
from mock_models.sim.tools import choose_tool


@dataclass(frozen=True, slots=True)
class AttemptPlan:
    """What the mock will do with one attempt; ``words`` index ``VOCABULARY``.

    ``plan_attempt`` gives the words as one ``array("H")`` (2 bytes a word: an open stream
    holds its plan), never to be changed in place.
    """

    digest: int
    #: The attempt's uniform draw in [0, 1) for the fault profile (``faults.decide.choose``):
    #: the first of its RNG, ``fault_draw(digest)``.
    fault_u: float
    latency: LatencyDraw
    words: Sequence[int]
    #: The tool the answer calls (its words are then the call's arguments), or None.
    tool: str | None = None
    #: The stop entry that ended the answer early, or None.
    stop_sequence: str | None = None


def attempt_digest(seed: int, key: str, attempt: int, repeat: int) -> int:
    """A stable 64-bit digest of an attempt's identity (never Python's salted ``hash``)."""
    identity = f"{seed}\x1f{key}\x1f{attempt}\x1f{repeat}".encode()
    return int.from_bytes(hashlib.blake2b(identity, digest_size=8).digest(), "big")


def fault_draw(digest: int) -> float:
    """The uniform draw in [0, 1) that picks an attempt's fault: the first of its RNG."""
    return float(np.random.Generator(np.random.PCG64(digest)).random())


def plan_attempt(
    deployment: DeploymentSettings,
    request: ParsedRequest,
    digest: int,
    elapsed_s: float = 0.0,
) -> AttemptPlan:
    """Draw, in a fixed order, the fault draw, the latency, the words and the tool of one
    attempt (``elapsed_s``: its arrival on its run's clock, see ``draw_latency``).

    An engine deployment draws only the output length: its timing comes out of the engine.
    """
    rng = np.random.Generator(np.random.PCG64(digest))
    fault_u = float(rng.random())
    if deployment.engine is None:
        latency = draw_latency(
            deployment,
            request.prompt_tokens,
            request.max_tokens,
            rng,
            request.ignore_eos,
            elapsed_s,
        )
    else:
        natural = natural_output_tokens(deployment, rng)
        cap = request.max_tokens
        if request.ignore_eos and cap is not None:
            natural = cap
        truncated = cap is not None and (request.ignore_eos or natural > cap)
        latency = LatencyDraw(
            ttft_s=0.0,
            gaps_s=(),
            truncated=truncated,
            completion_tokens=natural if cap is None else min(cap, natural),
        )
    # Drawn as int64 and narrowed (the vocabulary fits 16 bits), so the seeded words are
    # those an int64 draw gives.
    words = rng.integers(0, len(VOCABULARY), size=latency.completion_tokens).astype(np.uint16)
    tool = (
        choose_tool(request, float(rng.random()), deployment.tool_call_share)
        if request.tools
        else None
    )
    plan = AttemptPlan(
        digest=digest,
        fault_u=fault_u,
        latency=latency,
        words=array("H", words.tobytes()),
        tool=tool,
    )
    # Tool arguments are JSON fragments, not prose: a stop word must not break them.
    return plan if tool is not None or not request.stop else _stopped(plan, request.stop)


def _stopped(plan: AttemptPlan, stop: tuple[str, ...]) -> AttemptPlan:
    """``plan`` ended before its first stop word (an answer that then ends with "stop")."""
    found = first_stop(plan.words, stop)
    if found is None:
        return plan
    index, entry = found
    latency = dataclasses.replace(
        plan.latency,
        completion_tokens=index,
        gaps_s=plan.latency.gaps_s[: max(0, index - 1)],
        truncated=False,
    )
    return dataclasses.replace(plan, latency=latency, words=plan.words[:index], stop_sequence=entry)


class RepeatCounter:
    """How many times each key was seen before, remembering at most ``capacity`` keys.

    Bounded so a soak test of millions of requests cannot grow it without end; a key evicted
    and seen again starts over at zero, which only matters for retries hours apart.
    """

    __slots__ = ("_capacity", "_seen")

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    def next(self, key: str) -> int:
        """Earlier arrivals of ``key`` (0 the first time), counting this one for next time."""
        count = self._seen.pop(key, 0)
        self._seen[key] = count + 1
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return count
