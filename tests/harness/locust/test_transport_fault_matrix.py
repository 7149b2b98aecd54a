"""The fault matrix again, read by the Locust engine's gevent transport: every fault kind ×
streamed/whole × OpenAI/Anthropic × constant/engine deployment gives the same outcome, status,
retry hints and usage as through the asyncio client (both classify in
``harness.client.exchange``), and nothing hangs past its timeout. Embeddings too: every fault
that applies to them, and none, read alike by both clients."""

from __future__ import annotations

import time

import pytest

from faults.catalogue import CATALOGUE, FaultKind, applies
from harness.client.exchange import AttemptResult
from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.locust.transport import GeventClient
from tests.mock_models.test_fault_matrix import (
    AFTER,
    FIRST_TOKEN_TIMEOUT_S,
    MODELS,
    PARAMS,
    TIMEOUT_S,
    TOKENS,
    expected_outcome,
    mock_url,
    send,
)

__all__ = ["mock_url"]  # the module-scoped mock fixture, shared with the asyncio matrix


def gevent_send(
    client: GeventClient, stream: bool, model: str, headers: dict[str, str]
) -> AttemptResult:
    return client.send(
        model=model,
        messages=[{"role": "user", "content": "one two three"}],
        max_tokens=64,
        stream=stream,
        timeout_s=TIMEOUT_S,
        first_token_timeout_s=FIRST_TOKEN_TIMEOUT_S,
        keep_text=True,
        client_prompt_tokens=3,
        headers=headers,
    )


@pytest.mark.slow
@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda k: k.value)
def test_same_outcome_on_both_engines(
    mock_url: str, kind: FaultKind, stream: bool, api: str
) -> None:
    mode = "constant"  # the asyncio matrix covers the engine deployment; the client is the same
    header = kind.value + (f"; {PARAMS[kind]}" if kind in PARAMS else "")
    client = GeventClient(f"{mock_url}/v1", api, api_key="sk-test")
    results = []
    try:
        for attempt in ("1",):
            headers = {
                "x-tokenstorm-fault": header,
                "x-tokenstorm-run-id": "matrix-gevent",
                "x-tokenstorm-request-id": f"{kind.value}-{api}-{stream}-{mode}-{attempt}",
                "x-tokenstorm-attempt": "1",
            }
            results.append(gevent_send(client, stream, MODELS[mode], headers))
    finally:
        client.close()
    asyncio_result = send(
        mock_url, api, stream, MODELS[mode], {**headers, "x-tokenstorm-attempt": "1"}
    )
    for result in results:
        assert result.outcome.value == expected_outcome(kind, stream), result.error_detail
        assert result.outcome is asyncio_result.outcome
        assert result.status_code == asyncio_result.status_code
        assert result.retry_after_s == asyncio_result.retry_after_s
        assert result.should_retry == asyncio_result.should_retry
        assert result.usage_source == asyncio_result.usage_source
        assert result.completion_tokens == asyncio_result.completion_tokens
        assert result.fault == asyncio_result.fault
        assert result.done_s - result.sent_s < TIMEOUT_S + 5.0
        if CATALOGUE[kind].status is not None:
            assert result.status_code == CATALOGUE[kind].status
        if kind in (FaultKind.CUT, FaultKind.ERROR_EVENT, FaultKind.MALFORMED_CHUNK) and stream:
            assert len(result.text.split()) == AFTER
        if kind is FaultKind.SLOW_DRIP:
            assert result.done_s - result.sent_s >= (TOKENS - 1) * 0.04


EMBEDDING_FAULTS = [kind for kind in FaultKind if applies(kind, OPENAI_EMBEDDINGS)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", [None, *EMBEDDING_FAULTS], ids=lambda k: k and k.value)
def test_embeddings_read_alike_on_both_engines(mock_url: str, kind: FaultKind | None) -> None:
    headers = {
        "x-tokenstorm-run-id": "matrix-gevent-embeddings",
        "x-tokenstorm-request-id": f"embed-{kind and kind.value}",
        "x-tokenstorm-attempt": "1",
    }
    if kind is not None:
        headers["x-tokenstorm-fault"] = kind.value + (f"; {PARAMS[kind]}" if kind in PARAMS else "")
    client = GeventClient(f"{mock_url}/v1", OPENAI_EMBEDDINGS, api_key="sk-test")
    try:
        result = gevent_send(client, False, MODELS["constant"], headers)
    finally:
        client.close()
    asyncio_result = send(mock_url, OPENAI_EMBEDDINGS, False, MODELS["constant"], headers)
    expected = "ok" if kind is None else expected_outcome(kind, False)
    assert result.outcome.value == expected, result.error_detail
    assert result.outcome is asyncio_result.outcome
    assert result.status_code == asyncio_result.status_code
    assert result.retry_after_s == asyncio_result.retry_after_s
    assert result.should_retry == asyncio_result.should_retry
    assert result.usage_source == asyncio_result.usage_source
    assert result.prompt_tokens == asyncio_result.prompt_tokens
    assert result.fault == asyncio_result.fault
    assert result.done_s - result.sent_s < TIMEOUT_S + 5.0
    if kind is None:
        assert result.status_code == 200 and result.prompt_tokens == 3


def test_ok_streams_carry_token_times_and_reuse_the_connection(mock_url: str) -> None:
    client = GeventClient(f"{mock_url}/v1", "openai-chat", api_key="sk-test")
    try:
        first = gevent_send(client, True, "any-model", {})
        second = gevent_send(client, True, "any-model", {})
    finally:
        client.close()
    for result in (first, second):
        assert result.outcome.value == "ok" and result.usage_source == "server"
        assert result.first_token_s is not None and len(result.token_times_s) == TOKENS - 1
    assert client.peak_in_flight == 1


def test_a_refused_connection_is_a_connect_error() -> None:
    client = GeventClient("http://127.0.0.1:9/v1", "openai-chat", connect_timeout_s=1.0)
    start = time.perf_counter()
    result = gevent_send(client, True, "m", {})
    assert result.outcome.value == "connect_error"
    assert time.perf_counter() - start < 5.0
