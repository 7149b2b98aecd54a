"""Trace rows and their field parsers: text cells in, a ``TraceRow`` (or one ``TraceError``
line naming file, line and column) out. Shared by every trace format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TraceError(ValueError):
    """A trace could not be read; ``str()`` is one line naming file, line and column."""


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One recorded request, as the trace states it.

    ``time_ns`` is on the trace's own clock (only differences matter). ``blocks`` are
    Mooncake-style prefix-block ids (equal leading ids: a shared prefix). ``prefix_tokens``
    is how much of the prompt the trace says repeats the previous call of its session.
    """

    line: int
    time_ns: int
    prompt_tokens: int
    output_tokens: int
    session: str | None = None
    blocks: tuple[int, ...] | None = None
    prefix_tokens: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Where:
    """The place a cell came from, for error messages."""

    source: str
    line: int

    def error(self, column: str, problem: str) -> TraceError:
        return TraceError(f"{self.source}:{self.line}: column '{column}': {problem}")


def tokens(value: Any, where: Where, column: str) -> int:
    """A token count: a non-negative whole number (``"12"``, ``12`` or ``12.0``)."""
    if isinstance(value, bool):
        raise where.error(column, f"{value!r} is not a token count")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            count = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            if not number.is_integer():
                raise where.error(column, f"{value!r} is not a whole number of tokens") from None
            count = int(number)
    else:
        raise where.error(column, f"{value!r} is not a whole number of tokens")
    if count < 0:
        raise where.error(column, f"{count} tokens is negative; token counts must be >= 0")
    return count


def required(record: dict[str, Any], column: str, where: Where) -> Any:
    """The value of ``column`` in ``record``; a missing or empty one is an error."""
    value = record.get(column)
    if value is None or value == "":
        raise where.error(column, "missing (every row needs it)")
    return value
