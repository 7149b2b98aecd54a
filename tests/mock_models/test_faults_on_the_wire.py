"""The demo profile's kinds of fault (an error status, a cut) as a client sees them, and as the
ledger records them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import orjson
import pytest

from faults.profile import FaultProfile
from harness.contract.records import LedgerEntry
from mock_models.settings import MockSettings, constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_PATHS = {"openai-chat": "/v1/chat/completions", "anthropic-messages": "/v1/messages"}


_PARAMS = {"http_429": {"retry_after_s": 1.25}, "cut": {"after_tokens": 3}}


def _settings(**faults: float) -> MockSettings:
    base = constant_settings(ttft_ms=1, itl_ms=0, output_tokens=10)
    rules = [
        {"kind": kind, "probability": probability, "params": _PARAMS.get(kind, {})}
        for kind, probability in faults.items()
    ]
    profile = FaultProfile.model_validate({"rule": rules})
    return MockSettings(seed=1, deployments=base.deployments, faults=profile)


def _request(api: str, stream: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "any-model",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": "four words of prompt"}],
    }
    if api == "openai-chat" and stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _headers(request_id: str) -> dict[str, str]:
    return {
        "x-tokenstorm-run-id": "run-f",
        "x-tokenstorm-request-id": request_id,
        "x-tokenstorm-attempt": "2",
    }


@pytest.mark.parametrize("api", list(_PATHS))
@pytest.mark.parametrize(
    ("kind", "status"), [("http_429", 429), ("http_500", 500), ("http_503", 503)]
)
def test_http_faults(
    serving: Serving, ledger_of: LedgerOf, api: str, kind: str, status: int
) -> None:
    async def scenario() -> None:
        async with (
            serving(_settings(**{kind: 1.0})) as base_url,
            aiohttp.ClientSession() as session,
        ):
            async with session.post(
                base_url + _PATHS[api], json=_request(api, True), headers=_headers("r-http")
            ) as response:
                body = orjson.loads(await response.read())
                assert response.status == status
                assert response.headers["x-tokenstorm-fault"] == kind
                assert response.headers["x-tokenstorm-deployment"] == "constant"
                assert response.content_type == "application/json"
                if status == 429:
                    assert response.headers["retry-after"] == "2"
                    assert response.headers["retry-after-ms"] == "1250"
                else:
                    assert "retry-after" not in response.headers
            error_type = (
                body["error"]["type"]
                if api == "anthropic-messages"
                else body["error"]["code"] or body["error"]["type"]
            )
            expected = {
                ("anthropic-messages", 429): "rate_limit_error",
                ("anthropic-messages", 500): "api_error",
                ("anthropic-messages", 503): "api_error",
                ("openai-chat", 429): "rate_limit_exceeded",
                ("openai-chat", 500): "server_error",
                ("openai-chat", 503): "service_unavailable",
            }[(api, status)]
            assert error_type == expected
            [entry] = await ledger_of(session, base_url)
            assert (entry.fault, entry.status_code, entry.completion_tokens) == (kind, status, 0)
            assert entry.outcome == ("http_429" if status == 429 else "http_5xx")
            assert (entry.run_id, entry.request_id, entry.attempt) == ("run-f", "r-http", 2)
            assert (entry.api, entry.deployment, entry.model) == (api, "constant", "any-model")
            assert entry.prompt_tokens == 4 and entry.stream

    asyncio.run(scenario())


def _sse_events(raw: bytes) -> list[tuple[str, str]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields.get("event", "message"), fields["data"]))
    return events


@pytest.mark.parametrize("api", list(_PATHS))
def test_cut_stream_ends_cleanly_without_terminator(
    serving: Serving, ledger_of: LedgerOf, api: str
) -> None:
    async def scenario() -> None:
        async with serving(_settings(cut=1.0)) as base_url, aiohttp.ClientSession() as session:
            async with session.post(
                base_url + _PATHS[api], json=_request(api, True), headers=_headers("r-cut")
            ) as response:
                assert response.status == 200
                assert response.headers["x-tokenstorm-fault"] == "cut"
                raw = await response.read()  # a clean end: no payload error
            events = _sse_events(raw)
            if api == "openai-chat":
                chunks = [orjson.loads(data) for _, data in events]
                assert b"[DONE]" not in raw
                assert all(chunk["choices"] for chunk in chunks)  # no usage chunk
                assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks)
                contents = [c for c in chunks if c["choices"][0]["delta"].get("content")]
            else:
                names = [name for name, _ in events]
                assert "message_delta" not in names and "message_stop" not in names
                contents = [data for name, data in events if name == "content_block_delta"]
            assert len(contents) == 3
            [entry] = await ledger_of(session, base_url)
            assert (entry.fault, entry.outcome, entry.status_code) == ("cut", "stream_cut", 200)
            assert entry.completion_tokens == 3

    asyncio.run(scenario())


@pytest.mark.parametrize("api", list(_PATHS))
def test_cut_body_is_truncated(serving: Serving, ledger_of: LedgerOf, api: str) -> None:
    async def scenario() -> None:
        async with serving(_settings(cut=1.0)) as base_url, aiohttp.ClientSession() as session:
            async with session.post(
                base_url + _PATHS[api], json=_request(api, False), headers=_headers("r-cut-body")
            ) as response:
                assert response.status == 200
                assert response.headers["x-tokenstorm-fault"] == "cut"
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
            [entry] = await ledger_of(session, base_url)
            assert (entry.fault, entry.outcome, entry.completion_tokens) == ("cut", "stream_cut", 3)
            assert not entry.stream

    asyncio.run(scenario())


@pytest.mark.parametrize("api", list(_PATHS))
def test_request_errors_use_provider_bodies(
    serving: Serving, ledger_of: LedgerOf, api: str
) -> None:
    async def scenario() -> None:
        async with serving(_settings()) as base_url, aiohttp.ClientSession() as session:
            url = base_url + _PATHS[api]
            async with session.post(url, data=b"{oops", headers=_headers("r-bad")) as response:
                assert response.status == 400
                bad = orjson.loads(await response.read())
            if api == "openai-chat":
                assert bad["error"]["type"] == "invalid_request_error"
            else:
                assert bad["type"] == "error"
                assert bad["error"]["type"] == "invalid_request_error"
            [entry] = await ledger_of(session, base_url)
            assert (entry.outcome, entry.status_code, entry.request_id) == (
                "http_4xx",
                400,
                "r-bad",
            )
            assert entry.fault is None

    asyncio.run(scenario())


def test_unknown_model_is_404_with_provider_body(serving: Serving) -> None:
    settings = MockSettings(seed=0)  # named deployments only: mock-small, mock-large

    async def scenario() -> None:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            body = {
                "model": "gpt-x",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            }
            async with session.post(base_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 404
                error = orjson.loads(await response.read())["error"]
            assert (error["type"], error["param"], error["code"]) == (
                "invalid_request_error",
                "model",
                "model_not_found",
            )
            assert "gpt-x" in error["message"]
            async with session.post(base_url + "/v1/messages", json=body) as response:
                assert response.status == 404
                assert "request-id" in response.headers
                document = orjson.loads(await response.read())
            assert document["type"] == "error"
            assert document["error"]["type"] == "not_found_error"

    asyncio.run(scenario())
