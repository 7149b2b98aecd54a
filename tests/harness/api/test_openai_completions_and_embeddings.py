"""OpenAI text completions and embeddings on the wire: prompts parsed, exact chunks and
bodies, vectors encoded as floats or base64."""

from __future__ import annotations

import base64
import struct

import orjson
import pytest

from harness.api.errors import RequestError
from harness.api.openai_completions import OpenAICompletions, prompt_pieces
from harness.api.openai_embeddings import OpenAIEmbeddings, embeddings_body
from harness.api.rendering import Reply
from harness.contract.prompt_text import VOCABULARY


def test_prompts_are_a_string_token_ids_or_one_of_those_in_a_list() -> None:
    assert prompt_pieces("a b") == ("a b",)
    assert prompt_pieces([1, 2, 3]) == ("1 2 3",)
    assert prompt_pieces([[4, 5]]) == ("4 5",)
    with pytest.raises(RequestError, match="one prompt per request"):
        prompt_pieces(["a", "b"])
    parsed = OpenAICompletions().parse(orjson.dumps({"model": "m", "prompt": "x y"}))
    assert (parsed.prompt_tokens, parsed.max_tokens) == (2, 16)  # the legacy default cap


def test_completion_chunks_are_exact() -> None:
    shape = OpenAICompletions().stream_shape(Reply("cmpl-tokenstorm01", "m", 2, 3, False))
    assert shape.opening() == b""
    assert shape.token(1) == (
        b'data: {"id":"cmpl-tokenstorm01","object":"text_completion","created":3,"model":"m",'
        b'"system_fingerprint":"fp_tokenstorm","choices":[{"text":"'
        + VOCABULARY[1].encode()
        + b' ","index":0,"logprobs":null,"finish_reason":null}]}\n\n'
    )
    assert shape.closing(1, truncated=False).endswith(b"data: [DONE]\n\n")


def test_embeddings_bodies_carry_floats_or_base64_little_endian() -> None:
    vector = struct.pack("<3f", 0.5, -0.25, 1.0)
    as_floats = orjson.loads(embeddings_body("e", [vector], 4, False))
    assert as_floats == {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25, 1.0]}],
        "model": "e",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    as_base64 = orjson.loads(embeddings_body("e", [vector], 4, True))
    assert base64.b64decode(as_base64["data"][0]["embedding"]) == vector


def test_embeddings_requests_parse_their_inputs() -> None:
    api = OpenAIEmbeddings()
    parsed = api.parse(
        orjson.dumps(
            {"model": "e", "input": ["a b", [1, 2]], "dimensions": 8, "encoding_format": "base64"}
        )
    )
    assert parsed.prompt_pieces == ("a b", "1 2")
    assert (parsed.prompt_tokens, parsed.dimensions, parsed.base64) == (4, 8, True)
    with pytest.raises(RequestError, match="encoding_format"):
        api.parse(orjson.dumps({"model": "e", "input": "x", "encoding_format": "hex"}))
    with pytest.raises(RequestError, match="input"):
        api.parse(orjson.dumps({"model": "e", "input": []}))
