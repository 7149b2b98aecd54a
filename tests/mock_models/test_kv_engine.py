"""KV capacity through the asyncio engine: preemptions and cache usage reach the vLLM-named
metrics, preempted streams still get all their tokens, and the shipped profiles carry a size."""

from __future__ import annotations

import asyncio

from mock_models.engine import DeploymentEngine
from mock_models.metrics import render
from mock_models.settings import DeploymentSettings, EngineSettings


class _Counter:
    """A sink that counts tokens and says when the last one came."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.tokens = 0
        self.done = done
        self.lag_sum_s = 0.0
        self.lag_base_s = 0.0

    def token(self) -> None:
        self.tokens += 1

    def finish(self) -> None:
        self.done.set_result(None)


def test_preemptions_and_kv_usage_reach_the_metrics() -> None:
    settings = EngineSettings(
        max_num_seqs=4,
        step_base_ms=0.2,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
        kv_capacity_tokens=600,
    )

    async def scenario() -> tuple[DeploymentEngine, list[_Counter], list[float]]:
        engine = DeploymentEngine(settings, jitter=0.0, seed=1)
        loop = asyncio.get_running_loop()
        sinks = [_Counter(loop.create_future()) for _ in range(4)]
        for sink in sinks:
            assert engine.submit(sink, 100, 150, cached_prompt_tokens=20) is not None
        usage: list[float] = []
        while not all(sink.done.done() for sink in sinks):
            await asyncio.sleep(0.002)
            usage.append(engine.metrics.kv_cache_usage)
        await engine.close()
        return engine, sinks, usage

    engine, sinks, usage = asyncio.run(scenario())
    assert [sink.tokens for sink in sinks] == [150] * 4
    assert engine.preemptions > 0
    assert engine.metrics.preemptions == engine.preemptions
    assert 0.0 < max(usage) <= 1.0
    text = render({"d": "m"}, {"d": engine.metrics}, {"d": (0, 0)}).decode()
    label = 'model_name="m",deployment="d"'
    assert f"vllm:num_preemptions_total{{{label}}} {engine.preemptions}" in text
    assert f"vllm:kv_cache_usage_perc{{{label}}} " in text
    assert f"vllm:gpu_cache_usage_perc{{{label}}} " in text


def test_shipped_profiles_size_their_kv_cache_and_overrides_keep_it() -> None:
    for profile in ("8b-h100", "70b-h100-tp8"):
        deployment = DeploymentSettings.model_validate(
            {"name": "d", "model": "m", "profile": profile, "engine": {"max_num_seqs": 8}}
        )
        assert deployment.engine is not None
        engine = deployment.engine
        # One pool of GPU memory: the prefix cache's blocks are the KV capacity.
        assert engine.kv_capacity_tokens == engine.prefix_cache_blocks * engine.block_size_tokens
        assert engine.kv_capacity_tokens > 0
        assert deployment.engine.max_num_seqs == 8


def test_kv_usage_drops_to_zero_when_the_last_sequences_are_aborted() -> None:
    settings = EngineSettings(
        max_num_seqs=4,
        step_base_ms=1.0,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
        kv_capacity_tokens=10_000,
    )

    async def scenario() -> tuple[float, float]:
        engine = DeploymentEngine(settings, jitter=0.0, seed=1)
        loop = asyncio.get_running_loop()
        sinks = [_Counter(loop.create_future()) for _ in range(2)]
        seqs = [engine.submit(sink, 100, 100_000) for sink in sinks]
        while engine.metrics.kv_cache_usage == 0.0:
            await asyncio.sleep(0.002)
        busy = engine.metrics.kv_cache_usage
        for seq in seqs:
            assert seq is not None
            engine.abort(seq)
        # The next planned step finds nothing to run and the engine goes idle.
        await asyncio.sleep(0.05)
        idle = engine.metrics.kv_cache_usage
        await engine.close()
        return busy, idle

    busy, idle = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert busy > 0.0
    assert idle == 0.0
