"""OpenAI embeddings (``POST /v1/embeddings``) on the wire: planned requests in, bodies
out; bodies in, a ``ParsedRequest`` (inputs as pieces) out; float32 vectors in, the ``list`` of
``embedding`` objects with usage out.

Its answers never stream: the streaming methods of ``WireApi`` refuse with ``ValueError``.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Sequence
from typing import Any, Final, NoReturn

import orjson

from harness.api.errors import ErrorKind, RequestError, short
from harness.api.openai_common import NO_MODEL, OpenAIWire, usage_object
from harness.api.rendering import Reply, StreamShape
from harness.api.requests import (
    OutgoingRequest,
    ParsedRequest,
    decode_object,
    positive_int,
    required_model,
)
from harness.api.wire_api import BodyAnswer, StreamEvent
from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.prompt_text import count_tokens

MAX_INPUTS: Final = 2048


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    ):
        return " ".join(str(token) for token in value)
    return None


def _floats(vector_f32le: bytes) -> list[float]:
    floats = array("f", vector_f32le)
    if sys.byteorder == "big":
        floats.byteswap()
    return floats.tolist()


def embeddings_body(
    model: str, vectors_f32le: Sequence[bytes], prompt_tokens: int, encode_base64: bool
) -> bytes:
    """The answer carrying ``vectors_f32le`` (each a vector's little-endian float32 bytes)."""
    data = []
    for index, vector in enumerate(vectors_f32le):
        encoded: Any = base64.b64encode(vector).decode() if encode_base64 else _floats(vector)
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )


class OpenAIEmbeddings(OpenAIWire):
    """The ``POST /v1/embeddings`` API."""

    name: Final = OPENAI_EMBEDDINGS
    path: Final = "/embeddings"

    def request_body(self, request: OutgoingRequest) -> dict[str, Any]:
        """Each message's content as one input."""
        return {
            "model": request.model,
            "input": [message["content"] for message in request.messages],
        }

    def decode_body(self, document: dict[str, Any]) -> BodyAnswer:
        if document.get("error"):
            return BodyAnswer(error=short(document["error"]))
        return BodyAnswer("", False, usage_object(document), document.get("model"), None, True)

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = required_model(body, NO_MODEL)
        value = body.get("input")
        single = _text(value)
        items = (
            [single]
            if single is not None
            else ([_text(item) for item in value] if isinstance(value, list) else [None])
        )
        texts = tuple(text for text in items if text is not None)
        if not texts or len(texts) != len(items) or len(texts) > MAX_INPUTS:
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                "input: must be a non-empty string, a list of token ids, or a list "
                f"of at most {MAX_INPUTS} of those.",
                "input",
            )
        dimensions = body.get("dimensions")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                "encoding_format: must be float or base64.",
                "encoding_format",
            )
        return ParsedRequest(
            model=model,
            prompt_tokens=sum(count_tokens(text) for text in texts),
            max_tokens=None,
            stream=False,
            include_usage=False,
            prompt_pieces=texts,
            dimensions=None if dimensions is None else positive_int(dimensions, "dimensions"),
            base64=encoding == "base64",
        )

    def _no_stream(self) -> NoReturn:
        raise ValueError(f"{self.name} answers are vectors, never generated or streamed")

    def decode_event(self, event: str, data: str) -> StreamEvent:
        self._no_stream()

    def response_id(self, digest: int) -> str:
        self._no_stream()

    def stream_shape(self, reply: Reply) -> StreamShape:
        self._no_stream()

    def full_body(self, reply: Reply, words: Sequence[int], truncated: bool) -> bytes:
        self._no_stream()
