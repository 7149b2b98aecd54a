"""OpenAI legacy text completions (``POST /v1/completions``) on the wire: planned requests in,
bodies out; bodies in, ``ParsedRequest`` and ``text_completion`` objects or SSE chunks out;
chunks and bodies in, content and usage out.

One prompt per request: a string, a list of token ids, or a list holding one of those. A list
of several prompts asks for several independent generations, which the mock does not batch
into one answer; it is refused with a 400 saying to send them one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from harness.api.errors import ErrorKind, RequestError, short
from harness.api.openai_common import (
    DONE,
    FINGERPRINT,
    NO_MODEL,
    OpenAIWire,
    generation_options,
    usage_object,
    usage_of,
)
from harness.api.rendering import (
    TOKEN_SLOT,
    Reply,
    TokenTemplate,
    WordTails,
    split_template,
    text_of,
)
from harness.api.requests import OutgoingRequest, ParsedRequest, decode_object, required_model
from harness.api.sse import DATA_FIELD, FRAME_END, data_frame
from harness.api.wire_api import BodyAnswer, EventKind, StreamEvent, stream_event
from harness.contract.apis import OPENAI_COMPLETIONS
from harness.contract.prompt_text import count_tokens

_OBJECT: Final = "text_completion"
_END: Final = stream_event(EventKind.END)


def _is_token_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def prompt_pieces(prompt: Any) -> tuple[str, ...]:
    """The prompt's text (token ids as decimal words, one token each), or a 400."""
    if isinstance(prompt, str):
        return (prompt,)
    if _is_token_ids(prompt):
        return (" ".join(str(token) for token in prompt),)
    if isinstance(prompt, list) and len(prompt) == 1:
        return prompt_pieces(prompt[0])
    if isinstance(prompt, list) and len(prompt) > 1 and not _is_token_ids(prompt):
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"prompt: the mock answers one prompt per request, got {len(prompt)}; "
            "send them as separate requests.",
            "prompt",
        )
    raise RequestError(
        400,
        ErrorKind.INVALID_REQUEST,
        "prompt: must be a string, a list of token ids, or a list holding one of those.",
        "prompt",
    )


class CompletionStream(TokenTemplate):
    """SSE chunks of one streamed text completion (no opening chunk: the text starts it)."""

    __slots__ = ("_base", "_reply")

    def __init__(self, reply: Reply, tails: WordTails) -> None:
        self._reply = reply
        self._base: dict[str, Any] = {
            "id": reply.response_id,
            "object": _OBJECT,
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": FINGERPRINT,
        }
        prefix, suffix = split_template(self._chunk(TOKEN_SLOT, None))
        self._set_template(DATA_FIELD + prefix, suffix + FRAME_END, tails)

    def _chunk(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        chunk = dict(self._base)
        chunk["choices"] = [
            {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        ]
        if self._reply.include_usage:
            chunk["usage"] = None
        return chunk

    def opening(self) -> bytes:
        return b""

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        parts = [data_frame(orjson.dumps(self._chunk("", "length" if truncated else "stop")))]
        if self._reply.include_usage:
            usage_chunk = dict(self._base)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage_of(self._reply, completion_tokens)
            parts.append(data_frame(orjson.dumps(usage_chunk)))
        parts.append(DONE)
        return b"".join(parts)


class OpenAICompletions(OpenAIWire):
    """The ``POST /v1/completions`` API."""

    name: Final = OPENAI_COMPLETIONS
    path: Final = "/completions"

    def __init__(self) -> None:
        self._tails = WordTails()

    def request_body(self, request: OutgoingRequest) -> dict[str, Any]:
        """The messages' contents, blank-line separated, as the one prompt."""
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": "\n\n".join(message["content"] for message in request.messages),
            "max_tokens": request.max_tokens,
            "stream": request.stream,
        }
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def decode_event(self, event: str, data: str) -> StreamEvent:
        if data == "[DONE]":
            return _END
        if event == "error":
            return stream_event(EventKind.ERROR, error=short(data))
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("chunk is not a JSON object")
        if obj.get("error"):
            return stream_event(EventKind.ERROR, error=short(obj["error"]), document=obj)
        kind, text, finish = EventKind.OTHER, "", None
        for choice in obj.get("choices") or ():
            finish = choice.get("finish_reason")
            if choice.get("text"):
                kind, text = EventKind.TEXT, choice["text"]
                break
        return (kind, text, usage_object(obj), obj.get("model"), None, obj, finish)

    def decode_body(self, document: dict[str, Any]) -> BodyAnswer:
        if document.get("error"):
            return BodyAnswer(error=short(document["error"]))
        choices = document.get("choices") or ()
        text = "".join(choice.get("text") or "" for choice in choices)
        finish = next((c["finish_reason"] for c in choices if c.get("finish_reason")), None)
        return BodyAnswer(
            text, bool(text), usage_object(document), document.get("model"), None, True, finish
        )

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = required_model(body, NO_MODEL)
        if "prompt" not in body:
            raise RequestError(
                400, ErrorKind.INVALID_REQUEST, "You must provide a prompt parameter.", "prompt"
            )
        pieces = prompt_pieces(body["prompt"])
        prompt_tokens = sum(count_tokens(piece) for piece in pieces)
        # The legacy endpoint's default cap is 16 tokens, unlike chat's "no cap".
        options = generation_options({"max_tokens": 16, **body}, ("max_tokens",))
        return ParsedRequest(
            model=model, prompt_tokens=prompt_tokens, prompt_pieces=pieces, **options
        )

    def response_id(self, digest: int) -> str:
        return f"cmpl-tokenstorm{digest:016x}"

    def stream_shape(self, reply: Reply) -> CompletionStream:
        return CompletionStream(reply, self._tails)

    def full_body(self, reply: Reply, words: Sequence[int], truncated: bool) -> bytes:
        return orjson.dumps(
            {
                "id": reply.response_id,
                "object": _OBJECT,
                "created": reply.created,
                "model": reply.model,
                "system_fingerprint": FINGERPRINT,
                "choices": [
                    {
                        "text": text_of(words),
                        "index": 0,
                        "logprobs": None,
                        "finish_reason": "length" if truncated else "stop",
                    }
                ],
                "usage": usage_of(reply, len(words)),
            }
        )
