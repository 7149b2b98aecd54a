"""What one attempt's answer said, as the client reads it: decoded stream events or a decoded
whole body (``harness.api``) and the time each arrived in; token times, counts, usage, model,
terminator and in-band error out (``Answer``).

Role-only, usage-only and ``ping`` events are not content, so they never count as a first
token; a tool-call fragment counts as content but adds no answer text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.api.wire_api import BodyAnswer, EventKind, StreamEvent, WireApi

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
    text_parts: list[str] | None = None

    def add_content(self, now_s: float, text: str) -> None:
        if self.first_token_s is None:
            self.first_token_s = now_s
        else:
            self.token_times_s.append(now_s)
        self.content_events += 1
        if self.text_parts is not None and text:
            self.text_parts.append(text)

    def take_event(self, event: StreamEvent, now_s: float, api: WireApi) -> None:
        """Count one decoded stream event that arrived at ``now_s``.

        This runs once per streamed token, so it unpacks the event once and counts content
        inline (``add_content``'s body) rather than through attribute and method lookups.
        """
        kind, text, usage, model, error, _ = event
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
            return
        elif kind is _ERROR:
            self.error = error
            return
        if self.model is None:
            self.model = model
        if usage is not None:
            api.read_usage(usage, self)

    def take_body(self, body: BodyAnswer, now_s: float, api: WireApi) -> None:
        """Count a decoded whole answer that arrived at ``now_s``."""
        if body.error is not None:
            self.error = body.error  # an error body after HTTP 200
            return
        self.model = body.model
        if body.content:
            self.add_content(now_s, body.text)
            self.content_events = max(1, len(body.text.split()))
        if body.usage is not None:
            api.read_usage(body.usage, self)
        self.terminated = body.terminated
