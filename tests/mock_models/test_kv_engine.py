"""KV capacity through the asyncio engine (on virtual time): preemptions and cache usage reach
the vLLM-named metrics, preempted streams still get all their tokens, aborted sequences free
their slot and KV at the next step, cached prompt tokens are not prefilled, and the shipped
profiles carry a size."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mock_models.settings import DeploymentSettings, EngineSettings
from mock_models.sim.engine import DeploymentEngine
from mock_models.sim.metrics import render


class _Counter:
    """A sink that counts tokens and says when the last one came."""

    def __init__(self, done: asyncio.Future[None], clock: Any = None) -> None:
        self.tokens = 0
        self.done = done
        self.clock = clock
        self.token_s: list[float] = []
        self.lag_sum_s = 0.0
        self.lag_base_s = 0.0

    def token(self) -> None:
        self.tokens += 1
        if self.clock is not None:
            self.token_s.append(self.clock.now_s())

    def finish(self) -> None:
        self.done.set_result(None)


def test_preemptions_and_kv_usage_reach_the_metrics(virtual: Any, loop_clock: Any) -> None:
    settings = EngineSettings(
        max_num_seqs=4,
        step_base_ms=0.2,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
        kv_capacity_tokens=600,
    )

    async def scenario() -> tuple[DeploymentEngine, list[_Counter], list[float]]:
        engine = DeploymentEngine(settings, jitter=0.0, seed=1, clock=loop_clock())
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

    engine, sinks, usage = virtual(scenario)
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


def test_kv_usage_drops_to_zero_when_the_last_sequences_are_aborted(
    virtual: Any, loop_clock: Any
) -> None:
    settings = EngineSettings(
        max_num_seqs=4,
        step_base_ms=1.0,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
        kv_capacity_tokens=10_000,
    )

    async def scenario() -> tuple[float, float]:
        engine = DeploymentEngine(settings, jitter=0.0, seed=1, clock=loop_clock())
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
        await asyncio.sleep(0.0011)
        idle = engine.metrics.kv_cache_usage
        await engine.close()
        return busy, idle

    busy, idle = virtual(scenario)
    assert busy > 0.0
    assert idle == 0.0


@pytest.mark.parametrize("abort", [True, False])
def test_an_aborted_sequence_frees_its_slot_when_the_step_under_way_ends(
    virtual: Any, loop_clock: Any, abort: bool
) -> None:
    # One slot, 2 ms steps: B waits while A runs. Aborted just after its 3rd token (6 ms), A
    # gets no more tokens and leaves the slot when the step under way ends (8 ms): B's first
    # token ends the next one (10 ms). Not aborted, A keeps the slot for its 150 tokens.
    settings = EngineSettings(
        max_num_seqs=1, step_base_ms=2.0, prefill_ms_per_token=0.0, decode_ms_per_seq=0.0
    )

    async def scenario() -> tuple[_Counter, _Counter, float]:
        clock = loop_clock()
        engine = DeploymentEngine(settings, jitter=0.0, seed=1, clock=clock)
        loop = asyncio.get_running_loop()
        a, b = _Counter(loop.create_future(), clock), _Counter(loop.create_future(), clock)
        start_s = clock.now_s()
        seq = engine.submit(a, 1, 150)
        assert seq is not None and engine.submit(b, 1, 5) is not None
        if abort:
            await clock.sleep_until(start_s + 0.0061)
            engine.abort(seq)
        await b.done
        await engine.close()
        return a, b, start_s

    a, b, start_s = virtual(scenario)
    assert a.tokens == (3 if abort else 150)
    first_s = 0.010 if abort else 0.302
    assert b.token_s[0] - start_s == pytest.approx(first_s, abs=1e-9)
    assert b.tokens == 5


def test_cached_prompt_tokens_are_not_prefilled(virtual: Any, loop_clock: Any) -> None:
    # 1 ms a step plus 0.05 ms a prefilled token: a 3,004-token prompt takes 151.2 ms to its
    # first token; the same prompt with 2,992 tokens found in the prefix cache prefills 12.
    settings = EngineSettings(
        step_base_ms=1.0,
        prefill_ms_per_token=0.05,
        decode_ms_per_seq=0.0,
        max_num_batched_tokens=8192,
    )

    async def ttft_s(uncached: int, cached: int) -> float:
        clock = loop_clock()
        engine = DeploymentEngine(settings, jitter=0.0, seed=1, clock=clock)
        sink = _Counter(asyncio.get_running_loop().create_future(), clock)
        start_s = clock.now_s()
        assert engine.submit(sink, uncached, 4, cached_prompt_tokens=cached) is not None
        await sink.done
        await engine.close()
        return sink.token_s[0] - start_s

    async def both() -> tuple[float, float]:
        return await ttft_s(3004, 0), await ttft_s(12, 2992)

    cold, warm = virtual(both)
    assert cold == pytest.approx(0.1512, abs=1e-9)
    assert warm == pytest.approx(0.0016, abs=1e-9)
