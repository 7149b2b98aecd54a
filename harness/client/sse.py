"""Incremental Server-Sent Events decoder: bytes as they arrive in, (event, data) pairs out.

Follows the WHATWG event-stream rules that matter to LLM APIs: lines end in LF, CRLF or CR;
``data`` lines of one event are joined with LF; ``event`` names the type; comment lines
(``:``) and ``id``/``retry`` fields are ignored; an event is dispatched at a blank line.
Bounded: a single line longer than ``max_line_bytes`` raises ``SseError`` instead of growing
without end (a target that never sends a newline).
"""

from __future__ import annotations


class SseError(ValueError):
    """The byte stream is not a valid event stream."""


Event = tuple[str, str]


class SseDecoder:
    """Feed it chunks with ``feed``; it returns the events completed by that chunk."""

    __slots__ = ("_buffer", "_data", "_event", "_max_line_bytes")

    def __init__(self, max_line_bytes: int = 4 * 1024 * 1024) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._max_line_bytes = max_line_bytes

    def feed(self, chunk: bytes) -> list[Event]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            # Normalise CRLF and lone CR; a CR at the very end may be half of a CRLF.
            tail_cr = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if tail_cr:
                buffer = buffer[:-1]
                events = self._consume(buffer)
                self._buffer += b"\r"
                return events
        return self._consume(buffer)

    def _consume(self, buffer: bytes) -> list[Event]:
        events: list[Event] = []
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > self._max_line_bytes:
            raise SseError(f"event-stream line longer than {self._max_line_bytes} bytes")
        for raw in lines:
            if not raw:
                if self._data or self._event:
                    events.append((self._event or "message", "\n".join(self._data)))
                    self._event = ""
                    self._data = []
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SseError(f"event-stream line is not UTF-8 ({exc.reason})") from None
            if line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
            elif line.startswith("event:"):
                value = line[6:]
                self._event = value[1:] if value.startswith(" ") else value
            elif line.startswith(":") or line.startswith(("id:", "retry:")):
                continue
            elif line in ("data", "event"):
                if line == "data":
                    self._data.append("")
            else:
                # Unknown field names are ignored by the spec; a line with no colon at all
                # is a field name with an empty value: also ignored.
                continue
        return events

    def pending(self) -> bool:
        """True when bytes or an undispatched event remain (the stream ended mid-event)."""
        return bool(self._buffer.strip() or self._data or self._event)
