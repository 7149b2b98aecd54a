"""The trace-format registry: a format name (or ``auto``) and a trace file in, its rows out.

Auto-detection reads the first non-blank line: a JSON object is Mooncake (``hash_ids`` or
``input_length``) or TraceLab (``input_tokens_total``); a CSV header is Azure or BurstGPT by
its column names. With ``[trace.columns]`` given, ``auto`` means the generic reader.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

from harness.contract.traffic import TraceColumns
from workloads.traces.csv_formats import (
    AZURE_COLUMNS,
    BURSTGPT_COLUMNS,
    parse_azure,
    parse_burstgpt,
    parse_csv,
)
from workloads.traces.jsonl_formats import parse_jsonl, parse_mooncake, parse_tracelab
from workloads.traces.rows import TraceError, TraceRow

TraceParser = Callable[[Iterable[str], str, TraceColumns | None], list[TraceRow]]

_PARSERS: dict[str, TraceParser] = {
    "azure": parse_azure,
    "burstgpt": parse_burstgpt,
    "mooncake": parse_mooncake,
    "tracelab": parse_tracelab,
    "csv": parse_csv,
    "jsonl": parse_jsonl,
}


_CSV_COLUMNS = {"azure": {*AZURE_COLUMNS}, "burstgpt": {*BURSTGPT_COLUMNS, "Log Type"}}
_JSONL_FIELDS = {
    "mooncake": {"input_length", "output_length", "hash_ids"},
    "tracelab": {"input_tokens_total", "timing_events", "round_index", "prefix_tokens"},
}


def trace_formats() -> tuple[str, ...]:
    """The format names a trace may declare (besides ``auto``)."""
    return tuple(_PARSERS)


def _closest(names: set[str], candidates: dict[str, set[str]]) -> str | None:
    # The format sharing most names wins, so a header missing one column is still read as
    # its format, and the parser then names the missing column.
    best = max(candidates, key=lambda name: len(candidates[name] & names))
    return best if candidates[best] & names else None


def detect_format(first_line: str, source: str, columns: TraceColumns | None = None) -> str:
    """The format of a trace whose first non-blank line is ``first_line``."""
    text = first_line.strip().lstrip("\ufeff")
    found: str | None = None
    if text.startswith("{"):
        if columns is not None:
            return "jsonl"
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            record = {}
        if isinstance(record, dict):
            found = _closest(set(record), _JSONL_FIELDS)
    else:
        if columns is not None:
            return "csv"
        found = _closest({name.strip() for name in next(csv.reader([text]), [])}, _CSV_COLUMNS)
    if found is None:
        raise TraceError(
            f"{source}:1: cannot tell the trace format from this line; give format = one of "
            f"{', '.join(_PARSERS)} (csv/jsonl with [trace.columns])"
        )
    return found


def parse_trace(
    lines: list[str], source: str, trace_format: str = "auto", columns: TraceColumns | None = None
) -> list[TraceRow]:
    """The rows of a trace given as lines (pure: no file access)."""
    if trace_format == "auto":
        first = next((line for line in lines if line.strip()), None)
        if first is None:
            raise TraceError(f"{source}:1: the trace is empty")
        trace_format = detect_format(first, source, columns)
    try:
        parser = _PARSERS[trace_format]
    except KeyError:
        raise TraceError(
            f"{source}: unknown trace format {trace_format!r} (known: auto, {', '.join(_PARSERS)})"
        ) from None
    return parser(lines, source, columns)


def load_trace(
    path: Path, trace_format: str = "auto", columns: TraceColumns | None = None
) -> list[TraceRow]:
    """Read and parse the trace file at ``path``; every failure is one ``TraceError`` line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read the trace ({exc})") from None
    return parse_trace(text.splitlines(), str(path), trace_format, columns)
