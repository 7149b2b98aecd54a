"""CSV trace formats: the lines of a CSV trace in, its ``TraceRow`` list out.

Columns are found by header name, never by position: BurstGPT v3 inserts ``Session ID`` and
``Elapsed time`` as columns 2-3, and Azure 2025 appends ``NumImages``; extra columns are
ignored. Line numbers in errors are the file's physical lines (the header is line 1).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator

from harness.contract.traffic import TraceColumns
from workloads.traces.rows import TraceError, TraceRow, Where, required, tokens
from workloads.traces.timestamps import time_ns

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
BURSTGPT_COLUMNS = ("Timestamp", "Request tokens", "Response tokens")

_RowMaker = Callable[[dict[str, str], Where], TraceRow]


def _records(
    lines: Iterable[str], source: str, needed: tuple[str, ...]
) -> Iterator[tuple[dict[str, str], Where]]:
    reader = csv.reader(iter(lines))
    header = next(reader, None)
    if header is None:
        raise TraceError(f"{source}:1: the trace is empty (expected a header line)")
    header = [name.strip().lstrip("\ufeff") for name in header]
    missing = [name for name in needed if name not in header]
    if missing:
        raise TraceError(
            f"{source}:1: column '{missing[0]}': missing from the header "
            f"(found: {', '.join(header)})"
        )
    for cells in reader:
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # blank lines (a trailing newline pair) carry no request
        where = Where(source, reader.line_num)
        if len(cells) != len(header):
            raise TraceError(
                f"{source}:{reader.line_num}: has {len(cells)} cells, the header "
                f"names {len(header)} columns"
            )
        yield dict(zip(header, cells, strict=True)), where


def _time(record: dict[str, str], column: str, unit: str, where: Where) -> int:
    try:
        return time_ns(required(record, column, where), unit)
    except ValueError as exc:
        if isinstance(exc, TraceError):
            raise
        raise where.error(column, f"bad timestamp: {exc}") from None


def _parse(
    lines: Iterable[str], source: str, needed: tuple[str, ...], make: _RowMaker
) -> list[TraceRow]:
    return [make(record, where) for record, where in _records(lines, source, needed)]


def parse_azure(
    lines: Iterable[str], source: str, columns: TraceColumns | None = None
) -> list[TraceRow]:
    """Azure LLM inference traces (2023-2025): ``TIMESTAMP, ContextTokens, GeneratedTokens``."""

    def make(record: dict[str, str], where: Where) -> TraceRow:
        return TraceRow(
            line=where.line,
            time_ns=_time(record, "TIMESTAMP", "iso", where),
            prompt_tokens=tokens(required(record, "ContextTokens", where), where, "ContextTokens"),
            output_tokens=tokens(
                required(record, "GeneratedTokens", where), where, "GeneratedTokens"
            ),
        )

    return _parse(lines, source, AZURE_COLUMNS, make)


def parse_burstgpt(
    lines: Iterable[str], source: str, columns: TraceColumns | None = None
) -> list[TraceRow]:
    """BurstGPT v1 (``Timestamp, Model, Request tokens, Response tokens, ...``) and v3 (adds
    ``Session ID``, empty on API rows, and float timestamps with a large offset).

    A row with 0 response tokens is a failed request: it is kept, tagged ``trace_failed``.
    """

    def make(record: dict[str, str], where: Where) -> TraceRow:
        output = tokens(required(record, "Response tokens", where), where, "Response tokens")
        tags = {
            "trace_model": record.get("Model", "").strip(),
            "trace_log_type": record.get("Log Type", "").strip(),
        }
        tags = {key: value for key, value in tags.items() if value}
        if output == 0:
            tags["trace_failed"] = "true"
        session = (record.get("Session ID") or "").strip() or None
        return TraceRow(
            line=where.line,
            time_ns=_time(record, "Timestamp", "s", where),
            prompt_tokens=tokens(
                required(record, "Request tokens", where), where, "Request tokens"
            ),
            output_tokens=output,
            session=session,
            tags=tags,
        )

    return _parse(lines, source, BURSTGPT_COLUMNS, make)


def parse_csv(
    lines: Iterable[str], source: str, columns: TraceColumns | None = None
) -> list[TraceRow]:
    """Any CSV trace, its columns named by ``[trace.columns]``."""
    if columns is None:
        raise TraceError(
            f"{source}: format 'csv' needs [trace.columns] (time, prompt_tokens, output_tokens)"
        )
    mapping = columns
    needed = (mapping.time, mapping.prompt_tokens, mapping.output_tokens)

    def make(record: dict[str, str], where: Where) -> TraceRow:
        session = (record.get(mapping.session) or "").strip() or None if mapping.session else None
        return TraceRow(
            line=where.line,
            time_ns=_time(record, mapping.time, mapping.time_unit, where),
            prompt_tokens=tokens(
                required(record, mapping.prompt_tokens, where), where, mapping.prompt_tokens
            ),
            output_tokens=tokens(
                required(record, mapping.output_tokens, where), where, mapping.output_tokens
            ),
            session=session,
        )

    return _parse(lines, source, needed, make)
