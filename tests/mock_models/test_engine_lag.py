"""An engine whose own core cannot keep up: steps whose tokens take longer to write than the
step lasts move the schedule, and every token after a move carries it as lag (the mean per
token on each sink); an engine that keeps up carries none."""

from __future__ import annotations

import asyncio
import time

from mock_models.engine import DeploymentEngine
from mock_models.settings import EngineSettings


class _BusySink:
    """A sink whose every token costs ``busy_s`` of the loop's time (a slow write)."""

    def __init__(self, busy_s: float, done: asyncio.Future[None]) -> None:
        self.busy_s = busy_s
        self.done = done
        self.tokens = 0
        self.lag_sum_s = 0.0
        self.lag_base_s = 0.0

    def token(self) -> None:
        self.tokens += 1
        end = time.perf_counter() + self.busy_s
        while time.perf_counter() < end:
            pass

    def finish(self) -> None:
        self.done.set_result(None)


def _run(busy_s: float) -> list[_BusySink]:
    async def scenario() -> list[_BusySink]:
        settings = EngineSettings(
            max_num_seqs=8,
            max_waiting_seqs=8,
            step_base_ms=4.0,
            prefill_ms_per_token=0.0,
            decode_ms_per_seq=0.0,
        )
        engine = DeploymentEngine(settings, 0.0, 1)
        loop = asyncio.get_running_loop()
        sinks = [_BusySink(busy_s, loop.create_future()) for _ in range(4)]
        for sink in sinks:
            engine.submit(sink, 1, 40)
        await asyncio.wait_for(asyncio.gather(*(sink.done for sink in sinks)), 10)
        await engine.close()
        return sinks

    return asyncio.run(scenario())


def test_steps_longer_than_the_model_says_accumulate_lag() -> None:
    # Four sinks at 2 ms a token: 8 ms of writing a step for a 4 ms step, so each step starts
    # ~4 ms behind the last and the schedule moves; by the 40th token it is ~160 ms behind.
    slow = _run(0.002)
    for sink in slow:
        assert sink.tokens == 40
        mean_ms = sink.lag_sum_s / sink.tokens * 1000
        assert 30.0 < mean_ms < 200.0


def test_an_engine_that_keeps_up_notes_no_lag() -> None:
    for sink in _run(0.0001):  # 0.4 ms of writing a 4 ms step
        assert sink.lag_sum_s / sink.tokens < 0.001


def _engine() -> DeploymentEngine:
    settings = EngineSettings(
        max_num_seqs=8,
        max_waiting_seqs=8,
        step_base_ms=4.0,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
    )
    return DeploymentEngine(settings, 0.0, 1)


def test_a_stall_is_charged_to_the_answers_it_delayed_only() -> None:
    # A runs through a 50 ms stall of the loop; B is submitted at the end of the stall,
    # before the engine moved its schedule; C after. Only A waited for the mock.
    async def scenario() -> dict[str, _BusySink]:
        engine = _engine()
        loop = asyncio.get_running_loop()
        sinks = {name: _BusySink(0.0, loop.create_future()) for name in "ABC"}

        def stall() -> None:
            time.sleep(0.05)
            engine.submit(sinks["B"], 1, 30)

        engine.submit(sinks["A"], 1, 30)
        loop.call_later(0.02, stall)
        await asyncio.sleep(0.1)
        engine.submit(sinks["C"], 1, 30)
        await asyncio.wait_for(asyncio.gather(*(s.done for s in sinks.values())), 10)
        await engine.close()
        return sinks

    sinks = asyncio.run(scenario())
    mean_ms = {name: sink.lag_sum_s / sink.tokens * 1000 for name, sink in sinks.items()}
    assert mean_ms["A"] > 10.0
    assert mean_ms["B"] < 2.0 and mean_ms["C"] < 2.0


def test_the_wait_before_an_idle_engine_wakes_is_the_mocks() -> None:
    # The loop is busy for 50 ms right after the submission that wakes the engine: the
    # model's schedule started at the submission, so every token is ~46 ms late.
    async def scenario() -> _BusySink:
        engine = _engine()
        sink = _BusySink(0.0, asyncio.get_running_loop().create_future())
        engine.submit(sink, 1, 30)
        time.sleep(0.05)
        await asyncio.wait_for(sink.done, 10)
        await engine.close()
        return sink

    sink = asyncio.run(scenario())
    assert 30.0 < sink.lag_sum_s / sink.tokens * 1000 < 80.0
