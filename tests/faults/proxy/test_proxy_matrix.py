"""Every fault kind × streamed/whole × OpenAI/Anthropic, forced by header through the fault
proxy in front of the mock, read by the harness client: the outcome recorded is the kind's,
nothing hangs past its timeout, and the proxy's ledger says which fault hit which attempt."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import orjson
import pytest

from faults.catalogue import CATALOGUE, FaultKind
from harness.client.http import AttemptResult, HttpClient
from harness.contract.records import LedgerEntry, from_dict
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

TOKENS = 12
TIMEOUT_S, FIRST_TOKEN_TIMEOUT_S = 3.0, 1.0
PARAMS = {
    FaultKind.DELAY: "delay_ms=300",
    FaultKind.HANG: "hang_s=10",
    FaultKind.STALL: "after_tokens=3; stall_s=10",
    FaultKind.CUT: "after_tokens=3",
    FaultKind.RESET: "after_tokens=3",
    FaultKind.ERROR_EVENT: "after_tokens=3",
    FaultKind.MALFORMED_CHUNK: "after_tokens=3",
    FaultKind.SLOW_DRIP: "itl_ms=40",
    FaultKind.WRONG_USAGE: "usage_factor=3",
    FaultKind.FRAGMENT: "fragment_bytes=5",
    FaultKind.HTTP_429: "retry_after_s=2",
}


def expected_outcome(kind: FaultKind, stream: bool) -> str:
    if kind is FaultKind.DOWN:
        return "reset"  # a proxy cannot refuse one request: it drops the connection unanswered
    if kind is FaultKind.STALL and stream:
        return "timeout_stream"
    spec = CATALOGUE[kind]
    return spec.outcome_stream if stream else spec.outcome_body


@pytest.fixture(scope="module")
def proxy_url() -> Iterator[str]:
    with EmbeddedMock(constant_settings(5.0, 2.0, TOKENS)) as mock:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli.main",
                "proxy",
                "--upstream",
                mock.base_url,
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("tokenstorm-proxy listening on "), process.stderr
            yield line.split()[3]
        finally:
            process.terminate()
            process.wait(timeout=10)


def _send(url: str, api: str, stream: bool, header: str, request_id: str) -> AttemptResult:
    async def main() -> AttemptResult:
        client = HttpClient(f"{url}/v1", api, api_key="sk-test")
        try:
            return await client.send(
                model="any",
                messages=[{"role": "user", "content": "one two three"}],
                max_tokens=64,
                stream=stream,
                timeout_s=TIMEOUT_S,
                first_token_timeout_s=FIRST_TOKEN_TIMEOUT_S,
                keep_text=True,
                client_prompt_tokens=3,
                headers={
                    "x-tokenstorm-fault": header,
                    "x-tokenstorm-run-id": "matrix",
                    "x-tokenstorm-request-id": request_id,
                    "x-tokenstorm-attempt": "1",
                },
            )
        finally:
            await client.close()

    return asyncio.run(main())


@pytest.mark.slow
@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda k: k.value)
def test_fault_through_the_proxy(proxy_url: str, kind: FaultKind, stream: bool, api: str) -> None:
    header = kind.value + (f"; {PARAMS[kind]}" if kind in PARAMS else "")
    request_id = f"{kind.value}-{api}-{stream}"
    result = _send(proxy_url, api, stream, header, request_id)
    assert result.outcome.value == expected_outcome(kind, stream), result.error_detail
    # Nothing hangs past its timeout (a hang lasts an hour; a loaded machine adds seconds).
    assert result.done_s - result.sent_s < TIMEOUT_S + 5.0
    if CATALOGUE[kind].status is not None:
        assert result.status_code == CATALOGUE[kind].status
    if kind is FaultKind.HTTP_429:
        assert result.retry_after_s == 2.0
    if kind is FaultKind.QUOTA_429:
        assert result.should_retry is False
    if kind is FaultKind.DROP_USAGE:
        assert result.usage_source == "client" and result.completion_tokens == TOKENS
    if kind is FaultKind.WRONG_USAGE:
        assert result.usage_source == "server" and result.completion_tokens == 3 * TOKENS
    if kind is FaultKind.SLOW_DRIP and stream:
        assert result.done_s - result.first_token_s >= (TOKENS - 1) * 0.04  # type: ignore[operator]
    if kind is FaultKind.DELAY:
        assert result.first_byte_s - result.sent_s >= 0.3  # type: ignore[operator]
    if kind in (FaultKind.CUT, FaultKind.ERROR_EVENT) and stream:
        assert len(result.text.split()) == 3

    ledger = httpx.get(f"{proxy_url}/tokenstorm/ledger", params={"run_id": "matrix"}, timeout=5)
    entries = [
        from_dict(LedgerEntry, orjson.loads(line))
        for line in ledger.content.splitlines()
        if line.strip()
    ]
    mine = [e for e in entries if e.request_id == request_id]
    assert len(mine) == 1
    assert mine[0].fault == kind.value and mine[0].attempt == 1
    assert mine[0].api == api and mine[0].stream == stream
    assert mine[0].outcome == result.outcome.value, mine[0]  # the ledger agrees with the record


def test_bad_fault_header_gets_a_400_naming_it(proxy_url: str) -> None:
    result = _send(proxy_url, "openai-chat", True, "boom; x=1", "bad-header")
    assert result.status_code == 400 and "unknown fault kind 'boom'" in (result.error_detail or "")


def test_first_attempts_lets_a_retry_through(proxy_url: str) -> None:
    header = "http_503; first_attempts=1"
    first = _send(proxy_url, "openai-chat", True, header, "retry-through")
    assert first.outcome.value == "http_5xx"

    async def second() -> AttemptResult:
        client = HttpClient(f"{proxy_url}/v1", "openai-chat")
        try:
            return await client.send(
                model="any",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=8,
                stream=True,
                timeout_s=5.0,
                headers={"x-tokenstorm-fault": header, "x-tokenstorm-attempt": "2"},
            )
        finally:
            await client.close()

    assert asyncio.run(second()).outcome.value == "ok"


def test_the_active_profile_can_be_swapped_while_running(proxy_url: str) -> None:
    swapped = httpx.put(
        f"{proxy_url}/tokenstorm/faults",
        json={"rule": [{"kind": "http_502", "targets": {"models": ["swap"]}}]},
        timeout=5,
    )
    assert swapped.status_code == 200
    try:

        async def main() -> AttemptResult:
            client = HttpClient(f"{proxy_url}/v1", "openai-chat")
            try:
                return await client.send(
                    model="swap",
                    messages=[{"role": "user", "content": "hi"}],
                    max_tokens=8,
                    stream=True,
                    timeout_s=5.0,
                )
            finally:
                await client.close()

        result = asyncio.run(main())
        assert result.status_code == 502 and result.fault == "http_502"
        bad = httpx.put(f"{proxy_url}/tokenstorm/faults", json={"profile": "nope"}, timeout=5)
        assert bad.status_code == 400 and "no such fault profile" in bad.text
    finally:
        httpx.put(f"{proxy_url}/tokenstorm/faults", json={"rule": []}, timeout=5)
