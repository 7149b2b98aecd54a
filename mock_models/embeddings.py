"""The mock's ``POST /v1/embeddings``: a request body in, its checked inputs and then the
OpenAI ``list`` of ``embedding`` objects (float lists or base64 float32) with usage out.

Pure: vectors come from a hash of each input alone, so equal texts get equal vectors in every
run and on every server. A vector is ``dimensions`` standard normal draws seeded by the text,
scaled to unit length; a shorter ``dimensions`` is the longer vector's head, renormalised, as
the text-embedding-3 models shorten theirs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from harness.contract.prompt_text import count_tokens
from mock_models.flavour import (
    OPENAI_NO_MODEL,
    ErrorKind,
    RequestError,
    decode_object,
    positive_int,
    required_model,
)

API = "openai-embeddings"
_MAX_INPUTS = 2048


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """The parts of an embeddings request the mock acts on."""

    model: str
    #: Each input as text (token ids as decimal words, one token each).
    texts: tuple[str, ...]
    prompt_tokens: int
    #: None: the deployment's ``embedding_dimensions``.
    dimensions: int | None
    base64: bool


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


def parse_embeddings(raw: bytes) -> EmbeddingRequest:
    """Decode and check an embeddings body; raises ``RequestError``."""
    body = decode_object(raw)
    model = required_model(body, OPENAI_NO_MODEL)
    value = body.get("input")
    single = _text(value)
    items = (
        [single]
        if single is not None
        else ([_text(item) for item in value] if isinstance(value, list) else [None])
    )
    texts = tuple(text for text in items if text is not None)
    if not texts or len(texts) != len(items) or len(texts) > _MAX_INPUTS:
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            "input: must be a non-empty string, a list of token ids, or a list "
            f"of at most {_MAX_INPUTS} of those.",
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
    return EmbeddingRequest(
        model=model,
        texts=texts,
        prompt_tokens=sum(count_tokens(text) for text in texts),
        dimensions=None if dimensions is None else positive_int(dimensions, "dimensions"),
        base64=encoding == "base64",
    )


def embedding_vector(text: str, dimensions: int) -> np.ndarray:
    """The unit float32 vector of ``text``."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    vector = np.random.Generator(np.random.PCG64(seed)).standard_normal(dimensions)
    return (vector / np.linalg.norm(vector)).astype("<f4")


def embeddings_body(request: EmbeddingRequest, max_dimensions: int) -> bytes:
    """The answer to ``request`` from a deployment with ``max_dimensions``-long vectors."""
    dimensions = request.dimensions or max_dimensions
    if dimensions > max_dimensions:
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"dimensions: {request.model} makes vectors of at most "
            f"{max_dimensions} dimensions, got {dimensions}.",
            "dimensions",
        )
    data = []
    for index, text in enumerate(request.texts):
        full = embedding_vector(text, max_dimensions)
        head = full[:dimensions]
        vector = head if dimensions == max_dimensions else (head / np.linalg.norm(head))
        encoded: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if request.base64
            else vector.tolist()
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": request.model,
            "usage": {
                "prompt_tokens": request.prompt_tokens,
                "total_tokens": request.prompt_tokens,
            },
        }
    )
