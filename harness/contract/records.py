"""The records every stage exchanges: planned requests, client attempts, upstream ledger lines.

Frozen, slotted dataclasses written as JSON lines with a ``schema`` version. Times are seconds
on one monotonic run clock (``*_s``); derived values (TTFT, ITL, lag) are computed from these
fields by ``harness.metrics`` and never stored twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

PLAN_SCHEMA = "tokenstorm.plan/1"
RECORD_SCHEMA = "tokenstorm.record/1"
LEDGER_SCHEMA = "tokenstorm.ledger/1"


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message a turn adds to its session's conversation.

    ``content`` is literal text; when it is empty and ``tokens`` > 0 the text is synthesised at
    send time by ``harness.contract.prompt_text.synthetic_text(tokens, seed)`` (exactly
    ``tokens`` tokens under the mock's tokenizer). Equal ``(tokens, seed)`` give equal text,
    which is how shared prefixes (system prompts, documents) are expressed without writing them
    into every line.
    """

    role: str
    tokens: int = 0
    seed: int = 0
    content: str = ""


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One logical request of the plan (one line of ``plan.jsonl``).

    Turn 1 of a session is sent at ``offset_s`` after run start. A later turn is sent
    ``think_s`` after the previous turn of its session finished; its ``offset_s`` is the
    earliest time that could happen (session start plus all think times), kept for previews.
    A later turn re-sends the whole history: earlier messages, the answers actually received,
    then its own ``messages``. With ``resend_history`` false the engine sends ``messages``
    alone: the plan lists the turn's whole (truncated or summarised) context, and later turns
    build on what this one sent and received.

    Sub-agent fan-out: every turn of a session with ``spawned_by`` set (the request id of a
    parent turn) is started by the engine when that parent turn has finished, not at its
    ``offset_s`` (which stays the earliest it could be sent). A turn with ``waits_for`` (session
    ids) is sent ``think_s`` after all of those sessions have ended. Both are left out of the
    JSON line at their defaults, so plans without fan-out read and hash as before.

    Near-duplicates (``[workload.repeat]``): ``repeat_of`` names the earlier request this one
    repeats, exactly (``similarity`` 1.0) or as a paraphrase whose embedding has cosine
    ``similarity`` to the original's. Left out at their defaults ("" and None) like fan-out.
    """

    request_id: str
    session_id: str
    turn: int
    offset_s: float
    think_s: float
    prompt_tokens: int
    max_tokens: int
    model: str
    api: str
    stream: bool
    messages: tuple[PlannedMessage, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    resend_history: bool = True
    spawned_by: str = ""
    waits_for: tuple[str, ...] = ()
    repeat_of: str = ""
    similarity: float | None = None
    schema: str = PLAN_SCHEMA


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One client attempt (one line of ``records.jsonl``); ``None`` where it never happened."""

    request_id: str
    session_id: str
    turn: int
    attempt: int
    scheduled_s: float
    sent_s: float | None
    first_byte_s: float | None
    first_token_s: float | None
    done_s: float | None
    status_code: int | None
    outcome: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    usage_source: str | None
    model: str | None
    deployment: str | None
    error_detail: str | None
    # Run-clock times of every content event after the first (the first is first_token_s):
    # enough to compute ITL exactly.
    token_times_s: tuple[float, ...] = ()
    api: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    retry_after_s: float | None = None
    fault: str | None = None
    #: Prompt tokens the server says it wrote to its prompt cache (Anthropic's
    #: cache_creation_input_tokens); billed at the cache-creation price.
    cache_write_tokens: int | None = None
    #: The prompt's tokens as the client planned and counted them (the mock's whitespace
    #: words, or ``[target] tokenizer``), whatever the server reported; None when unsent.
    planned_prompt_tokens: int | None = None
    #: The answer's finish or stop reason as its wire API spells it (``stop``, ``length``,
    #: ``content_filter``, ``end_turn``, ``refusal``...); None when it named none or when the
    #: record predates the field.
    finish_reason: str | None = None
    schema: str = RECORD_SCHEMA


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One attempt an upstream (the mock or the fault proxy) received (one line of ledger)."""

    run_id: str | None
    request_id: str | None
    attempt: int | None
    received_s: float
    deployment: str
    model: str
    api: str
    stream: bool
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    fault: str | None
    outcome: str
    status_code: int
    service_ms: float
    #: Prompt tokens written to an explicit (Anthropic-style) prompt cache: billed at the
    #: cache-creation price. Of ``prompt_tokens``, apart from ``cached_tokens``.
    cache_write_tokens: int = 0
    #: What this attempt's tokens waited for the upstream itself, in ms on average per token:
    #: a tokenstorm mock that fell behind its own schedule (delays of 2 ms or less count 0).
    #: None where the upstream does not know (the fault proxy paces nothing).
    lag_ms: float | None = None
    schema: str = LEDGER_SCHEMA


_T = TypeVar("_T", PlannedRequest, AttemptRecord, LedgerEntry)


#: Optional groups of plan fields: a group is written only when one of its fields is set.
_OPTIONAL_PLAN_GROUPS = (("spawned_by", "waits_for"), ("repeat_of", "similarity"))
_PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(PlannedRequest))


def _plan_line(record: PlannedRequest) -> dict[str, Any]:
    """The fields of a plan line: optional groups left out while unset, so a line is what it
    was before those fields existed and earlier runs' plan.jsonl keep their hash (compare
    and baselines check it)."""
    left_out = {
        name
        for group in _OPTIONAL_PLAN_GROUPS
        if not any(getattr(record, name) not in ("", (), None) for name in group)
        for name in group
    }
    return {name: getattr(record, name) for name in _PLAN_FIELDS if name not in left_out}


def to_json_line(record: PlannedRequest | AttemptRecord | LedgerEntry) -> bytes:
    """Serialise one record as a JSON line (bytes, newline-terminated)."""
    if isinstance(record, PlannedRequest):
        return orjson.dumps(_plan_line(record), option=orjson.OPT_APPEND_NEWLINE)
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def _planned_from_dict(raw: dict[str, Any]) -> PlannedRequest:
    messages = tuple(PlannedMessage(**m) for m in raw.pop("messages"))
    if "waits_for" in raw:
        raw["waits_for"] = tuple(raw["waits_for"])
    return PlannedRequest(messages=messages, **raw)


def _record_from_dict(raw: dict[str, Any]) -> AttemptRecord:
    raw["token_times_s"] = tuple(raw.get("token_times_s", ()))
    return AttemptRecord(**raw)


def from_dict(kind: type[_T], raw: dict[str, Any]) -> _T:
    """Build a record of ``kind`` from a decoded JSON object, ignoring unknown keys."""
    names = {f.name for f in dataclasses.fields(kind)}
    known = {k: v for k, v in raw.items() if k in names}
    if kind is PlannedRequest:
        return _planned_from_dict(known)  # type: ignore[return-value]
    if kind is AttemptRecord:
        return _record_from_dict(known)  # type: ignore[return-value]
    return kind(**known)


class RecordFileError(ValueError):
    """A JSON-lines file could not be read; the message names the file and the line."""


def read_jsonl(path: Path, kind: type[_T]) -> Iterator[_T]:
    """Yield the records of a JSON-lines file.

    A truncated last line (a run killed mid-write) is skipped; any other bad line raises
    ``RecordFileError`` naming the file and line number.
    """
    with path.open("rb") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            yield from_dict(kind, raw)
        except (orjson.JSONDecodeError, TypeError) as exc:
            if number == len(lines) and not line.endswith(b"\n"):
                return
            raise RecordFileError(
                f"{path}:{number}: not a valid {kind.__name__} line ({exc})"
            ) from None


def write_jsonl(path: Path, records: Iterable[PlannedRequest | AttemptRecord | LedgerEntry]) -> int:
    """Write records to ``path`` (replacing it); returns how many were written."""
    count = 0
    with path.open("wb") as handle:
        for record in records:
            handle.write(to_json_line(record))
            count += 1
    return count


class JsonlAppender:
    """Appends records to a file as they come, flushed line by line, so a killed run
    leaves a readable file."""

    def __init__(self, path: Path) -> None:
        self._handle: IO[bytes] = path.open("ab")

    def append(self, record: PlannedRequest | AttemptRecord | LedgerEntry) -> None:
        self._handle.write(to_json_line(record))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
