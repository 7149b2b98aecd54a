"""Logical requests: the plan and the attempt records in, one ``LogicalRequest`` per plan line out.

A logical request is a planned request together with all its client attempts (records that
share its ``request_id``, ordered by ``attempt``). Its *final* attempt is the last one that
was sent; a retry that was still waiting when the run ended (a record with ``sent_s`` None)
does not hide what the target answered before. A request without any sent attempt keeps the
outcome of its last record (``dropped`` or ``cancelled``); a planned request with no record at
all (a run killed before writing it) counts as ``cancelled`` and is reported as unrecorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest

UNKNOWN = "(unknown)"
#: Finish or stop reasons that say a content filter answered (``AttemptRecord.finish_reason``):
#: OpenAI's ``content_filter`` and Anthropic's ``refusal``.
CONTENT_FILTERED = frozenset({"content_filter", "refusal"})


@dataclass(frozen=True, slots=True)
class LogicalRequest:
    request_id: str
    planned: PlannedRequest | None
    attempts: tuple[AttemptRecord, ...]

    @property
    def sent_attempts(self) -> tuple[AttemptRecord, ...]:
        return tuple(a for a in self.attempts if a.sent_s is not None)

    @property
    def was_sent(self) -> bool:
        return any(a.sent_s is not None for a in self.attempts)

    @property
    def final(self) -> AttemptRecord | None:
        """The last sent attempt, else the last record, else None (no record at all)."""
        sent = self.sent_attempts
        if sent:
            return sent[-1]
        return self.attempts[-1] if self.attempts else None

    @property
    def outcome(self) -> str:
        final = self.final
        return final.outcome if final is not None else Outcome.CANCELLED.value

    @property
    def is_ok(self) -> bool:
        return self.was_sent and self.outcome == Outcome.OK

    @property
    def content_filtered(self) -> bool:
        """The final answer says a content filter stopped it, whatever its status."""
        final = self.final
        return final is not None and final.finish_reason in CONTENT_FILTERED

    @property
    def first_scheduled_s(self) -> float | None:
        return self.attempts[0].scheduled_s if self.attempts else None

    @property
    def tags(self) -> Mapping[str, str]:
        if self.planned is not None:
            return self.planned.tags
        return self.attempts[0].tags if self.attempts else {}

    @property
    def model(self) -> str:
        final = self.final
        if final is not None and final.model:
            return final.model
        return self.planned.model if self.planned is not None else UNKNOWN

    @property
    def requested_model(self) -> str:
        """The model the client asked for (the plan's), whoever answered."""
        if self.planned is not None:
            return self.planned.model
        first = self.attempts[0].model if self.attempts else None
        return first or UNKNOWN

    @property
    def deployment(self) -> str:
        final = self.final
        if final is not None and final.deployment:
            return final.deployment
        return UNKNOWN

    def latency_with_retries_s(self) -> float | None:
        """From the first attempt's intended time to the final attempt's end (any outcome)."""
        final = self.final
        start = self.first_scheduled_s
        if final is None or final.sent_s is None or final.done_s is None or start is None:
            return None
        return final.done_s - start

    def user_ttft_s(self) -> float | None:
        """First content of the final attempt, from the first attempt's intended time."""
        final = self.final
        start = self.first_scheduled_s
        if final is None or final.sent_s is None or final.first_token_s is None or start is None:
            return None
        return final.first_token_s - start


def group_requests(
    plan: Sequence[PlannedRequest], records: Sequence[AttemptRecord]
) -> list[LogicalRequest]:
    """Plan order first; request ids that appear only in records follow in order of appearance."""
    by_id: dict[str, list[AttemptRecord]] = defaultdict(list)
    for record in records:
        by_id[record.request_id].append(record)
    result: list[LogicalRequest] = []
    seen: set[str] = set()
    for planned in plan:
        if planned.request_id in seen:
            continue
        seen.add(planned.request_id)
        attempts = sorted(by_id.get(planned.request_id, ()), key=lambda a: a.attempt)
        result.append(LogicalRequest(planned.request_id, planned, tuple(attempts)))
    for request_id, attempts in by_id.items():
        if request_id not in seen:
            seen.add(request_id)
            ordered = tuple(sorted(attempts, key=lambda a: a.attempt))
            result.append(LogicalRequest(request_id, None, ordered))
    return result
