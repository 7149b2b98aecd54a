"""API flavours: how to build a request and read a streamed or whole answer, per wire format.

Two flavours, registered by the name scenario files use: ``openai-chat`` (POST
``{url}/chat/completions``) and ``anthropic-messages`` (POST ``{url}/messages``). A flavour's
``StreamReader`` sees one decoded SSE event at a time and keeps what metrics need: time of
every content event, usage, model, the terminator, in-band errors. Role-only, usage-only and
``ping`` events are not content, so they never count as a first token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from harness.client.usage import ANTHROPIC_API, read_usage


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


class StreamReader(Protocol):
    answer: Answer

    def on_event(self, event: str, data: str, now_s: float) -> None: ...


class Flavour(Protocol):
    name: str
    path: str

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(
        self, model: str, messages: Sequence[Mapping[str, str]], max_tokens: int, stream: bool
    ) -> dict[str, Any]: ...

    def reader(self, answer: Answer) -> StreamReader: ...

    def read_body(self, obj: Any, answer: Answer, now_s: float) -> None: ...

    def error_message(self, obj: Any) -> str | None: ...


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _OpenAIStream:
    __slots__ = ("answer",)

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def on_event(self, event: str, data: str, now_s: float) -> None:
        answer = self.answer
        if data == "[DONE]":
            answer.terminated = True
            return
        if event == "error":
            answer.error = _short(data)
            return
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("chunk is not a JSON object")
        if obj.get("error"):
            answer.error = _short(obj["error"])
            return
        if answer.model is None:
            answer.model = obj.get("model")
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content or delta.get("tool_calls") or delta.get("refusal"):
                answer.add_content(now_s, content or "")
        usage = obj.get("usage")
        if usage:
            read_usage("openai-chat", usage, answer)


class OpenAIChat:
    name = "openai-chat"
    path = "/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(
        self, model: str, messages: Sequence[Mapping[str, str]], max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def reader(self, answer: Answer) -> StreamReader:
        return _OpenAIStream(answer)

    def read_body(self, obj: Any, answer: Answer, now_s: float) -> None:
        if obj.get("error"):
            answer.error = _short(obj["error"])  # an error body after HTTP 200
            return
        answer.model = obj.get("model")
        for choice in obj.get("choices") or ():
            message = choice.get("message") or {}
            text = message.get("content") or ""
            if text or message.get("tool_calls"):
                answer.add_content(now_s, text)
                answer.content_events = max(1, len(text.split()))
        if obj.get("usage"):
            read_usage("openai-chat", obj["usage"], answer)
        answer.terminated = True

    def error_message(self, obj: Any) -> str | None:
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            return _short(obj["error"].get("message") or obj["error"])
        return None


class _AnthropicStream:
    __slots__ = ("answer",)

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def on_event(self, event: str, data: str, now_s: float) -> None:
        answer = self.answer
        if event == "ping":
            return
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("event data is not a JSON object")
        kind = obj.get("type", event)
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            text = delta.get("text") or delta.get("partial_json") or delta.get("thinking") or ""
            if text:
                answer.add_content(now_s, delta.get("text") or "")
        elif kind == "message_start":
            message = obj.get("message") or {}
            answer.model = message.get("model")
            read_usage(ANTHROPIC_API, message.get("usage") or {}, answer)
        elif kind == "message_delta":
            read_usage(ANTHROPIC_API, obj.get("usage") or {}, answer)
        elif kind == "message_stop":
            answer.terminated = True
        elif kind == "error":
            answer.error = _short(obj.get("error") or obj)


_EPHEMERAL: dict[str, Any] = {"type": "ephemeral"}


def _marked(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": _EPHEMERAL}]


class AnthropicMessages:
    """Anthropic messages; ``cache_control`` places prompt-cache breakpoints as applications
    do: ``off`` none, ``system`` on the system prompt, ``conversation`` on the system prompt
    and the last message (Anthropic's recipe for multi-turn caching: each turn reads what
    the previous one wrote and writes its own tail)."""

    name = "anthropic-messages"
    path = "/messages"

    def __init__(self, cache_control: str = "off") -> None:
        self.cache_control = cache_control

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": "2023-06-01"}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(
        self, model: str, messages: Sequence[Mapping[str, str]], max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns: list[dict[str, Any]] = [dict(m) for m in messages if m["role"] != "system"]
        if self.cache_control == "conversation" and turns:
            turns[-1] = {**turns[-1], "content": _marked(str(turns[-1]["content"]))}
        body: dict[str, Any] = {
            "model": model,
            "messages": turns,
            "max_tokens": max_tokens,
            "stream": stream,
        }
        if system:
            body["system"] = system if self.cache_control == "off" else _marked(system)
        return body

    def reader(self, answer: Answer) -> StreamReader:
        return _AnthropicStream(answer)

    def read_body(self, obj: Any, answer: Answer, now_s: float) -> None:
        if obj.get("type") == "error":
            answer.error = _short(obj.get("error") or obj)  # an error body after HTTP 200
            return
        answer.model = obj.get("model")
        texts = [b.get("text", "") for b in obj.get("content") or () if isinstance(b, dict)]
        if any(texts) or any(b.get("type") == "tool_use" for b in obj.get("content") or ()):
            answer.add_content(now_s, "".join(texts))
            answer.content_events = max(1, len("".join(texts).split()))
        read_usage(ANTHROPIC_API, obj.get("usage") or {}, answer)
        answer.terminated = obj.get("type") == "message"

    def error_message(self, obj: Any) -> str | None:
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            return _short(obj["error"].get("message") or obj["error"])
        return None


FLAVOURS: dict[str, Callable[[], Flavour]] = {
    OpenAIChat.name: OpenAIChat,
    AnthropicMessages.name: AnthropicMessages,
}

CACHE_CONTROL_MODES = ("off", "system", "conversation")


def flavour(name: str, cache_control: str = "off") -> Flavour:
    """The flavour ``name``; ``cache_control`` other than "off" is for anthropic-messages."""
    if cache_control not in CACHE_CONTROL_MODES:
        raise ValueError(
            f"unknown cache_control {cache_control!r}: use one of {', '.join(CACHE_CONTROL_MODES)}"
        )
    if name == AnthropicMessages.name:
        return AnthropicMessages(cache_control)
    if cache_control != "off":
        raise ValueError(
            f"cache_control = {cache_control!r} needs api = "
            f"'anthropic-messages' ({name} caches prefixes by itself)"
        )
    try:
        return FLAVOURS[name]()
    except KeyError:
        raise ValueError(f"unknown api {name!r}: use one of {', '.join(FLAVOURS)}") from None
