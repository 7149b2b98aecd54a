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
    """How many times each key was seen before, remembering a key for ``max_age_s`` after it
    was last seen and at most ``capacity`` keys (the least recently seen go first).

    Both bounds keep a soak test's mock flat: the age bound reaches its steady size within
    ``max_age_s`` at any rate (a run of 16 requests/s keeps about 15,000 keys, 3 MB), the
    capacity bounds it at rates where the age bound alone would not. A key forgotten and seen
    again starts over at zero, which only matters for a retry that comes after ``max_age_s``
    without the client's ``x-tokenstorm-attempt`` header. ``now_s`` is any monotonic clock.
    """

    __slots__ = ("_capacity", "_max_age_s", "_seen")

    def __init__(self, capacity: int = 200_000, max_age_s: float = 900.0) -> None:
        self._capacity = capacity
        self._max_age_s = max_age_s
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def next(self, key: str, now_s: float) -> int:
        """Earlier arrivals of ``key`` (0 the first time), counting this one for next time."""
        seen = self._seen
        oldest_s = now_s - self._max_age_s
        # Least recently seen first: what has aged out by now is at the front.
        while seen and next(iter(seen.values()))[1] < oldest_s:
            seen.popitem(last=False)
        count, _ = seen.pop(key, (0, now_s))
        seen[key] = (count + 1, now_s)
        while len(seen) > self._capacity:
            seen.popitem(last=False)
        return count
