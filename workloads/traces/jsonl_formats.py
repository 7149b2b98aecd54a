"""JSON-lines trace formats: the lines of a JSONL trace in, its ``TraceRow`` list out.

Mooncake (``timestamp`` in ms, ``input_length``, ``output_length``, ``hash_ids``), TraceLab
agent sessions (one LLM call a line), and any JSONL trace mapped by ``[trace.columns]``.
Blank lines are skipped; line numbers are the file's physical lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from harness.contract.traffic import TraceColumns
from workloads.traces.rows import TraceError, TraceRow, Where, required, tokens
from workloads.traces.timestamps import time_ns

_RowMaker = Callable[[dict[str, Any], Where], TraceRow]


def _records(lines: Iterable[str], source: str) -> Iterator[tuple[dict[str, Any], Where]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"{source}:{number}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise TraceError(f"{source}:{number}: expected a JSON object per line")
        yield record, Where(source, number)


def _time(value: Any, unit: str, where: Where, column: str) -> int:
    try:
        return time_ns(value, unit)
    except ValueError as exc:
        raise where.error(column, f"bad timestamp: {exc}") from None


def _parse(lines: Iterable[str], source: str, make: _RowMaker) -> list[TraceRow]:
    return [make(record, where) for record, where in _records(lines, source)]


def _block_ids(value: Any, where: Where) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise where.error("hash_ids", "must be a list of whole numbers")
    return tuple(value)


def parse_mooncake(
    lines: Iterable[str], source: str, columns: TraceColumns | None = None
) -> list[TraceRow]:
    """Mooncake FAST'25 traces; ``hash_ids`` become the row's prefix blocks."""

    def make(record: dict[str, Any], where: Where) -> TraceRow:
        return TraceRow(
            line=where.line,
            time_ns=_time(required(record, "timestamp", where), "ms", where, "timestamp"),
            prompt_tokens=tokens(required(record, "input_length", where), where, "input_length"),
            output_tokens=tokens(required(record, "output_length", where), where, "output_length"),
            blocks=_block_ids(record.get("hash_ids", []), where),
        )

    return _parse(lines, source, make)


def _first_event_time(record: dict[str, Any], where: Where) -> int:
    events = record.get("timing_events")
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        raise where.error("timing_events", "missing or empty (the first event dates the call)")
    return _time(
        required(events[0], "timestamp", where), "iso", where, "timing_events[0].timestamp"
    )


def parse_tracelab(
    lines: Iterable[str], source: str, columns: TraceColumns | None = None
) -> list[TraceRow]:
    """TraceLab agent-session rounds: one LLM call a line, sent at its first timing event.

    The public pool samples sessions from different days, so times are rebased per session:
    every session starts at trace time 0 and keeps its own internal gaps.
    """

    def make(record: dict[str, Any], where: Where) -> TraceRow:
        prefix = record.get("prefix_tokens")
        tags = {
            key: str(record[name])
            for key, name in (("trace_model", "model"), ("trace_provider", "provider"))
            if record.get(name)
        }
        return TraceRow(
            line=where.line,
            time_ns=_first_event_time(record, where),
            prompt_tokens=tokens(
                required(record, "input_tokens_total", where), where, "input_tokens_total"
            ),
            output_tokens=tokens(required(record, "output_tokens", where), where, "output_tokens"),
            session=str(required(record, "session_id", where)),
            prefix_tokens=None if prefix is None else tokens(prefix, where, "prefix_tokens"),
            tags=tags,
        )

    rows = _parse(lines, source, make)
    starts: dict[str | None, int] = {}
    for row in rows:
        starts[row.session] = min(starts.get(row.session, row.time_ns), row.time_ns)
    return [
        TraceRow(
            line=row.line,
            time_ns=row.time_ns - starts[row.session],
            prompt_tokens=row.prompt_tokens,
            output_tokens=row.output_tokens,
            session=row.session,
            prefix_tokens=row.prefix_tokens,
            tags=row.tags,
        )
        for row in rows
    ]


def parse_jsonl(
    lines: Iterable[str], source: str, columns: TraceColumns | None = None
) -> list[TraceRow]:
    """Any JSONL trace, its fields named by ``[trace.columns]``."""
    if columns is None:
        raise TraceError(
            f"{source}: format 'jsonl' needs [trace.columns] (time, prompt_tokens, output_tokens)"
        )
    mapping = columns

    def make(record: dict[str, Any], where: Where) -> TraceRow:
        session = record.get(mapping.session) if mapping.session else None
        return TraceRow(
            line=where.line,
            time_ns=_time(
                required(record, mapping.time, where), mapping.time_unit, where, mapping.time
            ),
            prompt_tokens=tokens(
                required(record, mapping.prompt_tokens, where), where, mapping.prompt_tokens
            ),
            output_tokens=tokens(
                required(record, mapping.output_tokens, where), where, mapping.output_tokens
            ),
            session=None if session in (None, "") else str(session),
        )

    return _parse(lines, source, make)
