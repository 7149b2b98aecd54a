"""Every fault kind × streamed/whole × OpenAI/Anthropic × constant/engine deployment, forced
by header on the mock itself and read by the harness client: the outcome recorded is the
catalogue's, nothing hangs past its timeout, and the mock's ledger says which fault hit which
attempt, with the outcome the client recorded and the tokens actually generated."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest

from faults.catalogue import CATALOGUE, FaultKind
from harness.client.http import AttemptResult, HttpClient
from harness.contract.records import LedgerEntry, from_dict
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings

TOKENS = 12
AFTER = 3
TIMEOUT_S, FIRST_TOKEN_TIMEOUT_S = 1.5, 0.5
PARAMS = {
    FaultKind.DELAY: "delay_ms=300",
    FaultKind.HANG: "hang_s=10",
    FaultKind.STALL: f"after_tokens={AFTER}; stall_s=10",
    FaultKind.CUT: f"after_tokens={AFTER}",
    FaultKind.RESET: f"after_tokens={AFTER}",
    FaultKind.ERROR_EVENT: f"after_tokens={AFTER}",
    FaultKind.MALFORMED_CHUNK: f"after_tokens={AFTER}",
    FaultKind.SLOW_DRIP: "itl_ms=40",
    FaultKind.WRONG_USAGE: "usage_factor=3",
    FaultKind.FRAGMENT: "fragment_bytes=5",
    FaultKind.HTTP_429: "retry_after_s=2",
}
#: Model names routed to each deployment (the constant one answers any other name).
MODELS = {"engine": "engine-model", "constant": "any-model"}


def expected_outcome(kind: FaultKind, stream: bool) -> str:
    if kind is FaultKind.DOWN:
        return "reset"  # one listener for all deployments: the mock drops the connection
    spec = CATALOGUE[kind]
    return spec.outcome_stream if stream else spec.outcome_body


def _settings() -> MockSettings:
    engine = DeploymentSettings.model_validate(
        {
            "name": "engine",
            "model": MODELS["engine"],
            "output_tokens": TOKENS,
            "output_tokens_sigma": 0.0,
            "jitter": 0.0,
            "engine": {"step_base_ms": 2.0, "prefill_ms_per_token": 0.0, "decode_ms_per_seq": 0.0},
        }
    )
    constant = DeploymentSettings(
        name="constant",
        model="*",
        ttft_ms=5.0,
        prefill_ms_per_token=0.0,
        itl_ms=2.0,
        jitter=0.0,
        output_tokens=TOKENS,
        output_tokens_sigma=0.0,
    )
    return MockSettings(seed=3, deployments=(engine, constant))


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with EmbeddedMock(_settings()) as mock:
        yield mock.base_url


def send(url: str, api: str, stream: bool, model: str, headers: dict[str, str]) -> AttemptResult:
    async def main() -> AttemptResult:
        client = HttpClient(f"{url}/v1", api, api_key="sk-test")
        try:
            return await client.send(
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
        finally:
            await client.close()

    return asyncio.run(main())


def ledger(url: str, run_id: str) -> list[LedgerEntry]:
    response = httpx.get(f"{url}/tokenstorm/ledger", params={"run_id": run_id}, timeout=5)
    return [
        from_dict(LedgerEntry, orjson.loads(line))
        for line in response.content.splitlines()
        if line.strip()
    ]


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODELS))
@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda k: k.value)
def test_fault_on_the_mock(
    mock_url: str, kind: FaultKind, stream: bool, api: str, mode: str
) -> None:
    header = kind.value + (f"; {PARAMS[kind]}" if kind in PARAMS else "")
    request_id = f"{kind.value}-{api}-{stream}-{mode}"
    result = send(
        mock_url,
        api,
        stream,
        MODELS[mode],
        {
            "x-tokenstorm-fault": header,
            "x-tokenstorm-run-id": "matrix",
            "x-tokenstorm-request-id": request_id,
            "x-tokenstorm-attempt": "1",
        },
    )
    assert result.outcome.value == expected_outcome(kind, stream), result.error_detail
    # Nothing hangs past its timeout (a hang lasts an hour; a loaded machine adds seconds).
    assert result.done_s - result.sent_s < TIMEOUT_S + 5.0
    spec = CATALOGUE[kind]
    if spec.status is not None:
        assert result.status_code == spec.status
    if kind is FaultKind.HTTP_429:
        assert result.retry_after_s == 2.0
    if kind is FaultKind.QUOTA_429:
        assert result.should_retry is False
    if kind is FaultKind.DROP_USAGE:
        assert result.usage_source == "client" and result.completion_tokens == TOKENS
    if kind is FaultKind.WRONG_USAGE:
        assert result.usage_source == "server" and result.completion_tokens == 3 * TOKENS
    if kind is FaultKind.SLOW_DRIP:
        assert result.done_s - result.sent_s >= (TOKENS - 1) * 0.04
    if kind is FaultKind.DELAY:
        assert result.first_byte_s - result.sent_s >= 0.3  # type: ignore[operator]
    if kind in (FaultKind.CUT, FaultKind.ERROR_EVENT, FaultKind.MALFORMED_CHUNK) and stream:
        assert len(result.text.split()) == AFTER

    mine = [e for e in ledger(mock_url, "matrix") if e.request_id == request_id]
    assert len(mine) == 1  # no attempt lost, none doubled
    entry = mine[0]
    # The ledger agrees with the record: a hang or stall the client gave up on is the fault's
    # timeout there too (not "cancelled"), with the tokens sent before it.
    assert entry.outcome == result.outcome.value
    assert entry.fault == kind.value and entry.attempt == 1
    assert entry.api == api and entry.stream == stream and entry.deployment == mode
    if spec.status is None and kind not in (FaultKind.HANG, FaultKind.DOWN):
        ends_early = kind in (
            FaultKind.STALL,
            FaultKind.CUT,
            FaultKind.RESET,
            FaultKind.ERROR_EVENT,
            FaultKind.MALFORMED_CHUNK,
        )
        assert entry.completion_tokens == (AFTER if ends_early else TOKENS)
    else:
        assert entry.completion_tokens == 0


def test_a_bad_fault_header_gets_a_400_naming_it(mock_url: str) -> None:
    result = send(mock_url, "openai-chat", True, "any-model", {"x-tokenstorm-fault": "boom"})
    assert result.status_code == 400
    assert "x-tokenstorm-fault" in (result.error_detail or "")
    assert "unknown fault kind 'boom'" in (result.error_detail or "")


def test_first_attempts_lets_the_retry_through(mock_url: str) -> None:
    header = {"x-tokenstorm-fault": "http_503; first_attempts=1"}
    first = send(
        mock_url, "anthropic-messages", False, "any-model", {**header, "x-tokenstorm-attempt": "1"}
    )
    second = send(
        mock_url, "anthropic-messages", False, "any-model", {**header, "x-tokenstorm-attempt": "2"}
    )
    assert first.outcome.value == "http_5xx" and second.outcome.value == "ok"
