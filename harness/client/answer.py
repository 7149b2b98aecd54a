"""What one attempt's answer said, as the client reads it: decoded stream events or a decoded
whole body (``harness.api``) and the time each arrived in; token times, counts, usage, model,
terminator, finish reason and in-band error out (``Answer``).

Role-only, usage-only and ``ping`` events are not content, so they never count as a first
token; a tool-call fragment counts as content but adds no answer text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.api.sse import Event
from harness.api.wire_api import BodyAnswer, EventKind, StreamEvent, WireApi

#: ``WireApi.decode_event``, bound.
Decode = Callable[[str, str], StreamEvent]

_TEXT = EventKind.TEXT
_TOOL_CALL = EventKind.TOOL_CALL
_END = EventKind.END
_ERROR = EventKind.ERROR


@dataclass(slots=True)
class Answer:
    """What one attempt's body said (filled while reading; ``None`` = not seen)."""

    first_token_s: float | None = None
    token_times_s: list[float] = field(default_factory=list)
    #: Content events of a stream; for a whole body, the words of its text (client count).
    content_events: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    model: str | None = None
    terminated: bool = False
    error: str | None = None
    #: The last finish or stop reason the answer named, as its API spells it.
    finish_reason: str | None = None
    text_parts: list[str] | None = None

    def add_content(self, now_s: float, text: str) -> None:
        if self.first_token_s is None:
            self.first_token_s = now_s
        else:
            self.token_times_s.append(now_s)
        self.content_events += 1
        if self.text_parts is not None and text:
            self.text_parts.append(text)

    def take_events(self, events: list[Event], api: WireApi, decode: Decode, now_s: float) -> None:
        """Decode and count the SSE events of one chunk, which arrived at ``now_s``.

        This runs for every streamed token, so it is kept flat: each event is decoded,
        unpacked once and counted inline (``add_content``'s body), with no call per event
        beyond the decoding.
        """
        for name, data in events:
            kind, text, usage, model, error, _, finish = decode(name, data)
            if kind is _TEXT or kind is _TOOL_CALL:
                if self.first_token_s is None:
                    self.first_token_s = now_s
                else:
                    self.token_times_s.append(now_s)
                self.content_events += 1
                if text and kind is _TEXT and self.text_parts is not None:
                    self.text_parts.append(text)
            elif kind is _END:
                self.terminated = True
                continue
            elif kind is _ERROR:
                self.error = error
                continue
            if self.model is None:
                self.model = model
            if usage is not None:
                api.read_usage(usage, self)
            if finish is not None:
                self.finish_reason = finish

    def take_body(self, body: BodyAnswer, now_s: float, api: WireApi) -> None:
        """Count a decoded whole answer that arrived at ``now_s``."""
        if body.error is not None:
            self.error = body.error  # an error body after HTTP 200
            return
        self.model = body.model
        self.finish_reason = body.finish
        if body.content:
            self.add_content(now_s, body.text)
            self.content_events = max(1, len(body.text.split()))
        if body.usage is not None:
            api.read_usage(body.usage, self)
        self.terminated = body.terminated
