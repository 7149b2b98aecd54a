"""OpenAI legacy text-completions flavour of the mock: ``POST /v1/completions`` bodies in,
``text_completion`` objects (whole, or as SSE chunks) and OpenAI error bodies out.

One prompt per request: a string, a list of token ids, or a list holding one of those. A list
of several prompts asks for several independent generations, which the mock does not batch
into one answer; it is refused with a 400 saying to send them one by one.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from harness.contract.prompt_text import count_tokens
from mock_models.flavour import (
    OPENAI_NO_MODEL,
    TOKEN_SLOT,
    ErrorKind,
    ParsedRequest,
    Reply,
    RequestError,
    TokenTemplate,
    WordTails,
    decode_object,
    required_model,
    split_template,
    text_of,
)
from mock_models.openai_api import (
    DONE,
    FINGERPRINT,
    OPENAI_ERRORS,
    event_bytes,
    generation_options,
    usage_of,
)

API: Final = "openai-completions"
_OBJECT: Final = "text_completion"


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
        self._set_template(b"data: " + prefix, suffix + b"\n\n", tails)

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
        parts = [event_bytes(self._chunk("", "length" if truncated else "stop"))]
        if self._reply.include_usage:
            usage_chunk = dict(self._base)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage_of(self._reply, completion_tokens)
            parts.append(event_bytes(usage_chunk))
        parts.append(DONE)
        return b"".join(parts)


class OpenAICompletions:
    """The ``POST /v1/completions`` flavour."""

    api: Final = API
    id_header: Final = "x-request-id"

    def __init__(self) -> None:
        self._tails = WordTails()

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = required_model(body, OPENAI_NO_MODEL)
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

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str
    ) -> bytes:
        error_type, code = OPENAI_ERRORS[kind]
        return orjson.dumps(
            {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        )

    def stream_shape(self, reply: Reply) -> CompletionStream:
        return CompletionStream(reply, self._tails)

    def full_body(self, reply: Reply, words: list[int], truncated: bool) -> bytes:
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
