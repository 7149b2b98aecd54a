"""The mock's embedding vectors: an embeddings request (``ParsedRequest`` of
``openai-embeddings``) and the deployment's vector length in; the answer's body out, its vectors
spelled by ``harness.api.openai_embeddings``.

Pure: vectors come from a hash of each input alone, so equal texts get equal vectors in every
run and on every server. A vector is ``dimensions`` standard normal draws seeded by the text,
scaled to unit length; a shorter ``dimensions`` is the longer vector's head, renormalised, as
the text-embedding-3 models shorten theirs.
"""

from __future__ import annotations

import hashlib

import numpy as np

from harness.api.errors import ErrorKind, RequestError
from harness.api.openai_embeddings import embeddings_body as wire_body
from harness.api.requests import ParsedRequest


def embedding_vector(text: str, dimensions: int) -> np.ndarray:
    """The unit float32 vector of ``text``."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    vector = np.random.Generator(np.random.PCG64(seed)).standard_normal(dimensions)
    return (vector / np.linalg.norm(vector)).astype("<f4")


def embeddings_body(request: ParsedRequest, max_dimensions: int) -> bytes:
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
    vectors: list[bytes] = []
    for text in request.prompt_pieces:
        full = embedding_vector(text, max_dimensions)
        head = full[:dimensions]
        vector = head if dimensions == max_dimensions else (head / np.linalg.norm(head))
        vectors.append(vector.astype("<f4").tobytes())
    return wire_body(request.model, vectors, request.prompt_tokens, request.base64)
