"""Bad requests over real HTTP: each gets the provider's error body and status, never a 500,
and the server goes on serving good requests afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import orjson
import pytest

from mock_models.settings import DeploymentSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]

_GOOD: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "mock-small",
        "messages": [{"role": "user", "content": "hi"}],
    },
    "/v1/completions": {"model": "mock-small", "prompt": "hi"},
    "/v1/messages": {
        "model": "mock-small",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    },
    "/v1/embeddings": {"model": "mock-small", "input": "hi"},
}
_JSON = {"content-type": "application/json"}


def _error(path: str, document: dict[str, Any]) -> tuple[str, str]:
    """(type, message) of a provider error body."""
    if path == "/v1/messages":
        assert document["type"] == "error"
    error = document["error"]
    return error["type"], error["message"]


def _cases(path: str) -> list[tuple[str, bytes, dict[str, str], int, str]]:
    good = _GOOD[path]
    without_model = {k: v for k, v in good.items() if k != "model"}
    return [
        ("malformed JSON", b'{"model": "mock-small", ', _JSON, 400, "parse the JSON body"),
        ("not an object", b"[1, 2]", _JSON, 400, ""),
        ("unknown model", orjson.dumps({**good, "model": "no-such"}), _JSON, 404, "no-such"),
        ("missing model", orjson.dumps(without_model), _JSON, 400, "model"),
        (
            "form post",
            orjson.dumps(good),
            {"content-type": "application/x-www-form-urlencoded"},
            400,
            "Unsupported content type 'application/x-www-form-urlencoded'",
        ),
        (
            "plain text",
            orjson.dumps(good),
            {"content-type": "text/plain"},
            400,
            "Content-Type: application/json",
        ),
        ("oversized", b'{"pad": "' + b"x" * (65 * 1024 * 1024) + b'"}', _JSON, 413, "exceeds"),
    ]


@pytest.mark.parametrize("path", list(_GOOD))
def test_bad_requests_get_provider_errors_and_the_server_keeps_serving(
    serving: Serving, path: str
) -> None:
    async def scenario() -> None:
        settings = MockSettings(
            deployments=(
                DeploymentSettings(
                    name="only", model="mock-small", ttft_ms=1.0, itl_ms=0.1, output_tokens=3
                ),
            )
        )
        timeout = aiohttp.ClientTimeout(total=30)
        async with serving(settings) as base_url, aiohttp.ClientSession(timeout=timeout) as session:
            for name, body, headers, status, wording in _cases(path):
                async with session.post(base_url + path, data=body, headers=headers) as response:
                    document = orjson.loads(await response.read())
                    assert response.status == status, (name, document)
                    error_type, message = _error(path, document)
                    assert error_type in {"invalid_request_error", "not_found_error"}, name
                    assert wording in message, (name, message)
                    if path != "/v1/messages" and name in {"form post", "plain text"}:
                        assert document["error"]["code"] == "unsupported_content_type"
            # charset parameters are fine, and a good request is still answered.
            async with session.post(
                base_url + path,
                data=orjson.dumps(_GOOD[path]),
                headers={"content-type": "application/json; charset=utf-8"},
            ) as response:
                assert response.status == 200, await response.text()

    asyncio.run(scenario())
