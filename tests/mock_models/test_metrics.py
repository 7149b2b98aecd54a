"""``GET /metrics``: vLLM-named counters and histograms that add up to what was served."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp

from harness.contract.prompt_text import synthetic_text
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]

_SETTINGS = MockSettings(
    seed=3,
    deployments=(
        DeploymentSettings(
            name="engine",
            model="mock-e",
            jitter=0.0,
            output_tokens=6,
            output_tokens_sigma=0.0,
            engine=EngineSettings(
                step_base_ms=0.5,
                prefill_ms_per_token=0.0,
                decode_ms_per_seq=0.0,
                prefix_cache_blocks=100,
            ),
        ),
        DeploymentSettings(
            name="constant",
            model="mock-c",
            ttft_ms=1.0,
            itl_ms=0.5,
            jitter=0.0,
            output_tokens=4,
            output_tokens_sigma=0.0,
        ),
    ),
)


def _samples(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_metrics_add_up(serving: Serving) -> None:
    context = synthetic_text(64, 5)

    async def scenario() -> dict[str, float]:
        async with serving(_SETTINGS) as base_url, aiohttp.ClientSession() as session:
            for model in ("mock-e", "mock-e", "mock-e", "mock-c", "mock-c"):
                body = {
                    "model": model,
                    "stream": True,
                    "messages": [{"role": "user", "content": context}],
                }
                async with session.post(base_url + "/v1/chat/completions", json=body) as response:
                    assert response.status == 200
                    await response.read()
            async with session.get(base_url + "/metrics") as response:
                assert response.status == 200
                assert response.content_type == "text/plain"
                return _samples(await response.text())

    samples = asyncio.run(scenario())
    e = 'model_name="mock-e",deployment="engine"'
    c = 'model_name="mock-c",deployment="constant"'
    assert samples[f"vllm:generation_tokens_total{{{e}}}"] == 3 * 6
    assert samples[f"vllm:generation_tokens_total{{{c}}}"] == 2 * 4
    assert samples[f"vllm:prompt_tokens_total{{{e}}}"] == 3 * 64
    assert samples[f"vllm:prefix_cache_queries_total{{{e}}}"] == 3 * 64
    assert samples[f"vllm:prefix_cache_hits_total{{{e}}}"] == 2 * 48  # the last block recomputed
    assert samples[f"vllm:prefix_cache_hits_total{{{c}}}"] == 0
    assert samples[f'vllm:request_success_total{{{e},finished_reason="ok"}}'] == 3
    assert samples[f"vllm:time_to_first_token_seconds_count{{{e}}}"] == 3
    assert samples[f"vllm:inter_token_latency_seconds_count{{{e}}}"] == 3 * 5
    assert samples[f"vllm:inter_token_latency_seconds_count{{{c}}}"] == 2 * 3
    assert samples[f'vllm:inter_token_latency_seconds_bucket{{{e},le="+Inf"}}'] == 15
    assert samples[f"vllm:e2e_request_latency_seconds_count{{{c}}}"] == 2
    assert samples[f"vllm:num_requests_running{{{e}}}"] == 0
    assert samples[f"vllm:num_requests_waiting{{{e}}}"] == 0
    assert f"vllm:num_requests_running{{{c}}}" not in samples  # no engine, no batch
