"""The mock's embedding vectors: an embeddings request (``ParsedRequest`` of
``openai-embeddings``) and the deployment's vector length in; the answer's body out, its vectors
spelled by ``harness.api.openai_embeddings``.

Pure: vectors come from a hash of each input alone, so equal texts get equal vectors in every
run and on every server. A vector is ``dimensions`` standard normal draws seeded by the text,
scaled to unit length; a shorter ``dimensions`` is the longer vector's head, renormalised, as
the text-embedding-3 models shorten theirs.

A text that ends with a topic marker (``harness.contract.topic_marker``) is a planned
near-duplicate: its vector is the topic's own unit vector ``t`` (an original, or an exact
repeat), or ``s * t + sqrt(1 - s**2) * o`` for a paraphrase at similarity ``s``, where ``o`` is
a unit vector hashed from the whole text and made orthogonal to ``t``: its cosine to the
original's vector is ``s`` up to float32 rounding. A shortened vector of a paraphrase is
built from the shortened topic vector the same way, so the cosine holds at any length.
"""

from __future__ import annotations

import hashlib

import numpy as np

from harness.api.errors import ErrorKind, RequestError
from harness.api.openai_embeddings import embeddings_body as wire_body
from harness.api.requests import ParsedRequest
from harness.contract.topic_marker import find_topic_marker


def _hashed_unit(text: str, dimensions: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    vector = np.random.Generator(np.random.PCG64(seed)).standard_normal(dimensions)
    unit: np.ndarray = vector / np.linalg.norm(vector)
    return unit


def _head(vector: np.ndarray, dimensions: int) -> np.ndarray:
    head = vector[:dimensions]
    unit: np.ndarray = head / np.linalg.norm(head)
    return unit


def embedding_vector(text: str, dimensions: int, head: int | None = None) -> np.ndarray:
    """The unit float32 vector of ``text`` (``head``: only its first ``head`` dimensions,
    renormalised)."""
    length = dimensions if head is None else head
    marker = find_topic_marker(text)
    if marker is None:
        return _head(_hashed_unit(text, dimensions), length).astype("<f4")
    topic = _head(_hashed_unit(f"topic:{marker.topic}", dimensions), length)
    if marker.similarity is None:
        return topic.astype("<f4")
    other = _head(_hashed_unit(f"variant:{text}", dimensions), length)
    other = other - float(other @ topic) * topic
    other /= np.linalg.norm(other)
    s = marker.similarity
    vector = s * topic + np.sqrt(max(1.0 - s * s, 0.0)) * other
    unit: np.ndarray = vector / np.linalg.norm(vector)
    return unit.astype("<f4")


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
        vector = embedding_vector(text, max_dimensions, dimensions)
        vectors.append(vector.tobytes())
    return wire_body(request.model, vectors, request.prompt_tokens, request.base64)
