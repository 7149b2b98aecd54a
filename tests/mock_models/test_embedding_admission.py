"""``/v1/embeddings`` takes the deployment's time and obeys its limits: a constant deployment's
prefill time, an engine's queue and steps (full queue refused), and RPM/TPM buckets answering
429 with the provider's headers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

import aiohttp
from multidict import CIMultiDict

from harness.contract.prompt_text import count_tokens, synthetic_text
from mock_models.settings import (
    DeploymentSettings,
    EngineSettings,
    MockSettings,
    RateLimitSettings,
)

Serving = Callable[..., AbstractAsyncContextManager[str]]


async def _embed(
    session: aiohttp.ClientSession, base_url: str, model: str, text: str
) -> tuple[int, Mapping[str, str], dict[str, object], float]:
    sent = time.monotonic()
    async with session.post(
        base_url + "/v1/embeddings", json={"model": model, "input": text}
    ) as response:
        body = await response.json()
        return (response.status, CIMultiDict(response.headers), body, time.monotonic() - sent)


async def _until_no_sequence_runs(session: aiohttp.ClientSession, base_url: str) -> None:
    """Poll ``/metrics`` until the engine runs no sequence (an aborted one leaves at the step
    after the server learns the client left)."""
    for _ in range(1000):
        async with session.get(base_url + "/metrics") as response:
            running = [
                line
                for line in (await response.text()).splitlines()
                if line.startswith("vllm:num_requests_running{")
            ]
        if running and all(line.endswith(" 0") for line in running):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"a sequence still runs: {running}")


def test_a_constant_deployment_takes_its_prefill_time(serving: Serving) -> None:
    text = synthetic_text(120, 3)
    tokens = count_tokens(text)
    settings = MockSettings(
        deployments=(
            DeploymentSettings(
                name="slow",
                model="embed",
                ttft_ms=30.0,
                prefill_ms_per_token=0.5,
                jitter=0.0,
                embedding_dimensions=8,
            ),
        )
    )

    async def scenario() -> tuple[int, float]:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            status, _, _, elapsed_s = await _embed(session, base_url, "embed", text)
            return status, elapsed_s

    status, elapsed_s = asyncio.run(scenario())
    assert status == 200
    assert elapsed_s >= (30.0 + 0.5 * tokens) / 1000.0


def test_an_engine_deployment_queues_embeddings_beside_its_streams(serving: Serving) -> None:
    # One running slot, no waiting room: while a long stream holds the slot an embedding is
    # refused with the queue-full status; once it is gone the embedding takes a prefill step.
    engine = EngineSettings(
        max_num_seqs=1,
        max_waiting_seqs=0,
        queue_full_status=503,
        step_base_ms=2.0,
        prefill_ms_per_token=0.2,
        decode_ms_per_seq=0.0,
    )
    settings = MockSettings(
        deployments=(
            DeploymentSettings(
                name="engine",
                model="embed",
                jitter=0.0,
                output_tokens=2000,
                output_tokens_sigma=0.0,
                embedding_dimensions=8,
                engine=engine,
            ),
        )
    )
    text = synthetic_text(100, 4)
    tokens = count_tokens(text)

    async def scenario() -> tuple[int, dict[str, object], int, float]:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            chat = {
                "model": "embed",
                "stream": True,
                "messages": [{"role": "user", "content": "hold the slot"}],
            }
            async with session.post(base_url + "/v1/chat/completions", json=chat) as stream:
                await stream.content.readline()  # the slot is taken
                busy_status, _, busy_body, _ = await _embed(session, base_url, "embed", text)
            await _until_no_sequence_runs(session, base_url)  # the aborted stream's slot
            status, _, _, elapsed_s = await _embed(session, base_url, "embed", text)
            return busy_status, busy_body, status, elapsed_s

    busy_status, busy_body, status, elapsed_s = asyncio.run(scenario())
    assert busy_status == 503
    assert "queue is full" in str(busy_body["error"])
    assert status == 200
    assert elapsed_s >= (2.0 + 0.2 * tokens) / 1000.0


def test_rpm_and_tpm_limits_answer_429_with_the_provider_headers(serving: Serving) -> None:
    text = synthetic_text(40, 5)
    tokens = count_tokens(text)
    settings = MockSettings(
        deployments=(
            DeploymentSettings(
                name="rpm",
                model="embed-rpm",
                ttft_ms=0.0,
                jitter=0.0,
                prefill_ms_per_token=0.0,
                embedding_dimensions=8,
                rate_limits=(RateLimitSettings(requests_per_minute=2),),
            ),
            DeploymentSettings(
                name="tpm",
                model="embed-tpm",
                ttft_ms=0.0,
                jitter=0.0,
                prefill_ms_per_token=0.0,
                embedding_dimensions=8,
                rate_limits=(RateLimitSettings(tokens_per_minute=tokens + 5),),
            ),
        )
    )

    async def scenario() -> tuple[list[int], Mapping[str, str], dict[str, object], list[int]]:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            rpm = [await _embed(session, base_url, "embed-rpm", text) for _ in range(3)]
            tpm = [await _embed(session, base_url, "embed-tpm", text) for _ in range(2)]
        return (
            [status for status, *_ in rpm],
            rpm[2][1],
            rpm[2][2],
            [status for status, *_ in tpm],
        )

    rpm_statuses, headers, body, tpm_statuses = asyncio.run(scenario())
    assert rpm_statuses == [200, 200, 429]
    assert tpm_statuses == [200, 429]
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert float(headers["retry-after-ms"]) > 0 and int(headers["retry-after"]) >= 1
    error = body["error"]
    assert isinstance(error, dict)
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
