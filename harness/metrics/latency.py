"""Per-attempt derived timings: one ``AttemptRecord`` in, seconds (or None) out.

Definitions are those of ``docs/metrics.md``; nothing here is stored in records, it is always
derived from the raw times. Every function returns None when the attempt never reached the
point the metric needs (never sent, no first token, not finished).

- content event times are ``[first_token_s, *token_times_s]``: the engine already leaves out
  role-only chunks, usage chunks and the stream terminator, so TTFT is the first content.
- TPOT divides by ``completion_tokens - 1`` and so needs at least two tokens; when the
  server's usage is missing and the client did not count tokens, the number of content
  events stands in for ``completion_tokens``.
"""

from __future__ import annotations

from itertools import pairwise

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord


def is_sent(record: AttemptRecord) -> bool:
    return record.sent_s is not None


def is_ok(record: AttemptRecord) -> bool:
    return record.outcome == Outcome.OK and record.sent_s is not None


def schedule_lag_s(record: AttemptRecord) -> float | None:
    """How late the client itself sent the attempt: ``sent_s - scheduled_s``."""
    if record.sent_s is None:
        return None
    return record.sent_s - record.scheduled_s


def ttft_s(record: AttemptRecord) -> float | None:
    """Time to first content event from the actual send: ``first_token_s - sent_s``."""
    if record.sent_s is None or record.first_token_s is None:
        return None
    return record.first_token_s - record.sent_s


def ttft_corrected_s(record: AttemptRecord) -> float | None:
    """Time to first content event from the intended send: ``first_token_s - scheduled_s``."""
    if record.sent_s is None or record.first_token_s is None:
        return None
    return record.first_token_s - record.scheduled_s


def e2e_s(record: AttemptRecord) -> float | None:
    """Whole attempt from the actual send: ``done_s - sent_s``."""
    if record.sent_s is None or record.done_s is None:
        return None
    return record.done_s - record.sent_s


def e2e_corrected_s(record: AttemptRecord) -> float | None:
    """Whole attempt from the intended send: ``done_s - scheduled_s``."""
    if record.sent_s is None or record.done_s is None:
        return None
    return record.done_s - record.scheduled_s


def content_times_s(record: AttemptRecord) -> tuple[float, ...]:
    """Run-clock times of every content event of the attempt, first one included."""
    if record.first_token_s is None:
        return ()
    return (record.first_token_s, *record.token_times_s)


def last_token_s(record: AttemptRecord) -> float | None:
    if record.first_token_s is None:
        return None
    return record.token_times_s[-1] if record.token_times_s else record.first_token_s


def itl_gaps_s(record: AttemptRecord) -> list[float]:
    """Every gap between consecutive content events (pooled across streams by the caller)."""
    times = content_times_s(record)
    return [later - earlier for earlier, later in pairwise(times)]


def output_tokens(record: AttemptRecord) -> int:
    """Completion tokens of the attempt; the content event count when usage is unknown."""
    if record.completion_tokens is not None:
        return record.completion_tokens
    return len(content_times_s(record))


def tpot_s(record: AttemptRecord) -> float | None:
    """Time per output token after the first: ``(last - first) / (completion_tokens - 1)``."""
    first = record.first_token_s
    last = last_token_s(record)
    tokens = output_tokens(record)
    if first is None or last is None or tokens < 2:
        return None
    return (last - first) / (tokens - 1)
