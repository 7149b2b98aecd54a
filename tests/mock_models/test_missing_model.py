"""A request without a model gets a 400 naming ``model`` in each API's own words."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mock_models.settings import MockSettings

CASES = [
    (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "hi"}]},
        "You must provide a model parameter.",
    ),
    ("/v1/completions", {"prompt": "hi"}, "You must provide a model parameter."),
    ("/v1/embeddings", {"input": "hi"}, "You must provide a model parameter."),
    (
        "/v1/messages",
        {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        "model: Field required",
    ),
]


@pytest.mark.parametrize(("path", "body", "message"), CASES, ids=[c[0] for c in CASES])
def test_missing_model_is_a_400_in_the_apis_words(
    serving: object, path: str, body: dict[str, object], message: str
) -> None:
    async def main() -> tuple[int, str]:
        async with serving(MockSettings()) as base_url, aiohttp.ClientSession() as session:  # type: ignore[operator]
            async with session.post(base_url + path, json=body) as response:
                return response.status, await response.text()

    status, text = asyncio.run(main())
    assert status == 400
    assert message in text and "model" in text
