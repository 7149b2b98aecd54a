"""Server-Sent Events framing and decoding: payload bytes in, ``data:``/``event:`` frames out;
stream bytes in, completed ``(event, data)`` pairs out, pulled as in h11 (feed, then pull).

Follows the WHATWG event-stream rules that matter to LLM APIs: lines end in LF, CRLF or CR;
``data`` lines of one event are joined with LF; ``event`` names the type; comment lines
(``:``) and ``id``/``retry`` fields are ignored; an event is dispatched at a blank line.
Never raises on what it is fed: a stream that breaks the rules (a line that is not UTF-8, or
longer than ``max_line_bytes``) sets ``SseDecoder.error`` and the decoder takes no more.
"""

from __future__ import annotations

from typing import Final

#: An event as decoded: its type (``message`` when unnamed) and its data.
Event = tuple[str, str]

#: The field that starts a data line, and the blank line that ends a frame.
DATA_FIELD: Final = b"data: "
FRAME_END: Final = b"\n\n"

#: Where a frame ends in a raw stream, in each line-ending convention.
_SEPARATORS: Final = (b"\r\n\r\n", b"\n\n", b"\r\r")


def data_frame(payload: bytes) -> bytes:
    """An unnamed event carrying ``payload`` (one line) as its data."""
    return DATA_FIELD + payload + FRAME_END


def event_prefix(name: str) -> bytes:
    """The bytes of an event named ``name`` before its data value."""
    return b"event: " + name.encode() + b"\n" + DATA_FIELD


def event_frame(name: str, payload: bytes) -> bytes:
    """An event named ``name`` carrying ``payload`` (one line) as its data."""
    return event_prefix(name) + payload + FRAME_END


def next_frame(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(first complete frame of ``buffer`` with its separator, the rest), or None when no
    frame is complete yet: how a relay cuts a stream into frames it may pass byte for byte."""
    best: tuple[int, int] | None = None
    for separator in _SEPARATORS:
        at = buffer.find(separator)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, len(separator))
    if best is None:
        return None
    end = best[0] + best[1]
    return buffer[:end], buffer[end:]


def frame_event(frame: bytes) -> Event | None:
    """The first event of one complete ``frame`` (``next_frame``), or None when it holds none
    (a comment, or bytes that break the rules)."""
    decoder = SseDecoder()
    decoder.receive_data(frame)
    decoder.receive_data(b"\n\n")
    return decoder.next_event()


class SseDecoder:
    """Feed it bytes with ``receive_data``; pull what they completed with ``next_event`` (one
    at a time, None when none is ready) or ``events`` (all that are ready); ``feed`` does
    both in one call for a reader that handles each chunk's events at once."""

    __slots__ = ("_buffer", "_data", "_event", "_max_line_bytes", "_ready", "error")

    def __init__(self, max_line_bytes: int = 4 * 1024 * 1024) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._ready: list[Event] = []
        self._max_line_bytes = max_line_bytes
        #: Why the stream broke the rules, once it has; later bytes are then ignored.
        self.error: str | None = None

    def receive_data(self, chunk: bytes) -> None:
        """Take the next bytes of the stream, in any chunking."""
        if self.error is not None:
            return
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            # Normalise CRLF and lone CR; a CR at the very end may be half of a CRLF.
            tail_cr = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if tail_cr:
                self._consume(buffer[:-1])
                if self.error is None:
                    self._buffer += b"\r"
                return
        self._consume(buffer)

    def feed(self, chunk: bytes) -> list[Event]:
        """``receive_data(chunk)``, then ``events()``."""
        self.receive_data(chunk)
        ready = self._ready
        if ready:
            self._ready = []
        return ready

    def next_event(self) -> Event | None:
        """The oldest completed event not pulled yet, or None."""
        ready = self._ready
        return ready.pop(0) if ready else None

    def events(self) -> list[Event]:
        """Every completed event not pulled yet, oldest first."""
        ready = self._ready
        if ready:
            self._ready = []
        return ready

    def pending(self) -> bool:
        """True when bytes or an undispatched event remain (the stream ended mid-event)."""
        return bool(self._buffer.strip() or self._data or self._event)

    def _consume(self, buffer: bytes) -> None:
        lines = buffer.split(b"\n")
        rest = lines.pop()
        ready = self._ready
        limit = self._max_line_bytes
        too_long = False
        if len(buffer) > limit:  # only then can a complete line be too long
            for index, raw in enumerate(lines):
                if len(raw) > limit:
                    del lines[index:]
                    too_long = True
                    break
        for raw in lines:
            if not raw:
                if self._data or self._event:
                    ready.append((self._event or "message", "\n".join(self._data)))
                    self._event = ""
                    self._data = []
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._break(f"event-stream line is not UTF-8 ({exc.reason})")
                return
            if line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
            elif line.startswith("event:"):
                value = line[6:]
                self._event = value[1:] if value.startswith(" ") else value
            elif line == "data":
                self._data.append("")
            # Anything else is ignored by the spec: comments, id, retry, unknown fields, and a
            # line with no colon (a field name with an empty value).
        # Checked after the complete lines before it, so the same stream breaks at the same
        # event in any chunking: a line is too long whether it arrives whole or in parts.
        if too_long or len(rest) > limit:
            self._break(f"event-stream line longer than {limit} bytes")
            return
        self._buffer = rest

    def _break(self, reason: str) -> None:
        self.error = reason
        self._buffer = b""
        self._event = ""
        self._data = []
