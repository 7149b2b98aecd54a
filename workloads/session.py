"""One session's frame: the context a session builder receives and the turn-to-request step
that turns its list of turns into planned requests (offsets, prompt sizes, ids)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.contract.records import PlannedMessage, PlannedRequest
from workloads.seeds import branch_message_seed, shared_message_seed, unique_message_seed

#: The shared-seed slot of a workload's shared prompt prefix (slot 0 is the system prompt).
SHARED_PREFIX_SLOT = 1


@dataclass(frozen=True, slots=True)
class Turn:
    """What a builder decides for one turn: the messages it adds, the wait before it is sent
    (think or tool time after the previous turn's answer; ignored for turn 1), its max_tokens,
    and whether the history goes before its messages."""

    messages: tuple[PlannedMessage, ...]
    think_s: float
    max_tokens: int
    #: False: ``messages`` are the turn's whole context (a truncated or summarised history).
    resend_history: bool = True
    #: Sessions (sub-agents) that must have ended before this turn's think time starts.
    waits_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Everything about a session that the planner, not the workload, decides."""

    session_id: str
    session_index: int
    start_s: float
    api: str
    model: str
    stream: bool
    seed: int
    workload_index: int
    workload_name: str
    tags: Mapping[str, str]
    #: A sub-agent session: the request id of the parent turn that starts it, and where in
    #: the parent session it was spawned (which keeps its message seeds its own).
    spawned_by: str = ""
    branch: tuple[int, ...] = ()

    def shared_seed(self, slot: int) -> int:
        """Text seed shared by every session of this workload (a cacheable prefix)."""
        return shared_message_seed(self.seed, self.workload_index, slot)

    def unique_seed(self, turn: int, slot: int) -> int:
        """Text seed of a message only this session sends."""
        if self.branch:
            return branch_message_seed(self.seed, self.session_index, self.branch, turn, slot)
        return unique_message_seed(self.seed, self.session_index, turn, slot)

    def prompt(self, tokens: int, shared_share: float, turn: int) -> tuple[PlannedMessage, ...]:
        """A user prompt of ``tokens`` whose leading ``shared_share`` is text every session of
        the workload shares (one seed, so equal leading words), the rest this session's own.

        Without a share it is one message; with one, up to two user messages in a row.
        """
        shared = math.floor(tokens * shared_share + 0.5)
        parts: list[PlannedMessage] = []
        if shared > 0:
            parts.append(
                PlannedMessage(
                    role="user", tokens=shared, seed=self.shared_seed(SHARED_PREFIX_SLOT)
                )
            )
        if tokens - shared > 0 or not parts:
            parts.append(
                PlannedMessage(role="user", tokens=tokens - shared, seed=self.unique_seed(turn, 0))
            )
        return tuple(parts)

    def requests(self, turns: Sequence[Turn]) -> list[PlannedRequest]:
        """Planned requests for ``turns`` (turn 1 first).

        ``offset_s`` of a later turn is the session start plus all think times so far: the
        earliest it can be sent, since the real send waits for the previous answer.
        ``prompt_tokens`` counts the planned messages of this and all earlier turns; the
        answers the model gives are unknown at plan time, so the real prompt will be larger
        by the completion tokens of earlier turns. A turn that does not re-send the history
        counts only its own messages, and later turns count on from there.
        """
        requests: list[PlannedRequest] = []
        offset_s = self.start_s
        history_tokens = 0
        for turn_number, turn in enumerate(turns, start=1):
            think_s = 0.0 if turn_number == 1 else max(turn.think_s, 0.0)
            offset_s += think_s
            if not turn.resend_history:
                history_tokens = 0
            history_tokens += sum(message.tokens for message in turn.messages)
            requests.append(
                PlannedRequest(
                    request_id=f"{self.session_id}-t{turn_number}",
                    session_id=self.session_id,
                    turn=turn_number,
                    offset_s=offset_s,
                    think_s=think_s,
                    prompt_tokens=history_tokens,
                    max_tokens=turn.max_tokens,
                    model=self.model,
                    api=self.api,
                    stream=self.stream,
                    messages=turn.messages,
                    tags=dict(self.tags),
                    resend_history=turn.resend_history,
                    spawned_by=self.spawned_by,
                    waits_for=turn.waits_for,
                )
            )
        return requests
