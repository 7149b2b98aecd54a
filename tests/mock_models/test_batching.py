"""The scheduling core on a fake clock: TTFT and ITL come out of queueing and batching."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_models.sim.batching import BatchScheduler, Sequence, StepCosts


def _costs(**overrides: float) -> StepCosts:
    fields: dict[str, float] = {
        "max_num_seqs": 8,
        "max_waiting_seqs": 100,
        "max_num_batched_tokens": 512,
        "step_base_s": 0.005,
        "prefill_s_per_token": 0.0001,
        "decode_s_per_seq": 0.001,
    }
    fields.update(overrides)
    return StepCosts(**fields)  # type: ignore[arg-type]


@dataclass
class Arrival:
    t_s: float
    prompt_tokens: int
    output_tokens: int
    token_times: list[float] = field(default_factory=list)
    refused: bool = False


@dataclass(frozen=True)
class Step:
    start_s: float
    duration_s: float
    prefill_tokens: int
    decode_seqs: int


def simulate(
    costs: StepCosts, arrivals: list[Arrival], abort_at: dict[int, float] | None = None
) -> list[Step]:
    """Run the scheduler on a fake clock; arrivals join before the first step that starts at
    or after their time. Returns the steps as (start, duration, prefill, decode) tuples."""
    scheduler: BatchScheduler[int] = BatchScheduler(costs)
    seqs: dict[int, Sequence[int]] = {}
    pending = sorted(range(len(arrivals)), key=lambda i: arrivals[i].t_s)
    aborts = sorted((abort_at or {}).items(), key=lambda item: item[1])
    now, steps = 0.0, []
    while pending or not scheduler.idle:
        while pending and arrivals[pending[0]].t_s <= now:
            index = pending.pop(0)
            seq = Sequence(index, arrivals[index].prompt_tokens, arrivals[index].output_tokens)
            if scheduler.submit(seq):
                seqs[index] = seq
            else:
                arrivals[index].refused = True
        while aborts and aborts[0][1] <= now:
            scheduler.abort(seqs[aborts.pop(0)[0]])
        step = scheduler.step()
        if step is None:
            now = arrivals[pending[0]].t_s
            continue
        steps.append(Step(now, step.duration_s, step.prefill_tokens, step.decode_seqs))
        now += step.duration_s
        for seq in step.emitting:
            arrivals[seq.handle].token_times.append(now)
    return steps


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_ttft_grows_with_queue_depth() -> None:
    arrivals = [Arrival(0.0, 100, 10) for _ in range(4)]
    simulate(_costs(max_num_seqs=1), arrivals)
    ttfts = [a.token_times[0] - a.t_s for a in arrivals]
    assert ttfts == sorted(ttfts) and len(set(ttfts)) == 4
    # Each waits for the whole generation of those before it.
    assert ttfts[1] >= arrivals[0].token_times[-1]


def test_itl_grows_with_batch_size() -> None:
    alone = [Arrival(0.0, 10, 50)]
    simulate(_costs(), alone)
    crowd = [Arrival(0.0, 10, 50) for _ in range(8)]
    simulate(_costs(), crowd)
    gap_alone = _gaps(alone[0].token_times)[-1]
    gap_crowd = _gaps(crowd[0].token_times)[-1]
    assert gap_alone == pytest.approx(0.005 + 0.001)
    assert gap_crowd == pytest.approx(0.005 + 8 * 0.001)


def test_a_long_prefill_stretches_the_gaps_of_running_streams() -> None:
    costs = _costs(max_num_batched_tokens=512)
    runner = Arrival(0.0, 10, 60)
    long_prompt = Arrival(0.02, 2000, 5)
    steps = simulate(costs, [runner, long_prompt])
    gaps = _gaps(runner.token_times)
    quiet = min(gaps)
    assert quiet == pytest.approx(0.005 + 0.001)
    spiked = [gap for gap in gaps if gap > quiet * 1.5]
    # 2000 tokens in chunks of at most 511 (one budget token goes to the runner's decode).
    assert len(spiked) == 4
    assert max(spiked) == pytest.approx(0.005 + 0.001 + 511 * 0.0001)
    assert sum(s.prefill_tokens for s in steps) == 10 + 2000
    assert all(s.prefill_tokens + s.decode_seqs <= 512 for s in steps)
    # The long prompt's TTFT is its prefill steps, its first token with the last chunk.
    assert long_prompt.token_times[0] - long_prompt.t_s >= 4 * 0.005 + 2000 * 0.0001


def test_a_full_queue_refuses_and_an_idle_engine_never_does() -> None:
    arrivals = [Arrival(0.0, 10, 5) for _ in range(5)]
    simulate(_costs(max_num_seqs=2, max_waiting_seqs=1), arrivals)
    assert [a.refused for a in arrivals] == [False, False, False, True, True]
    nobody_waits = [Arrival(0.0, 10, 5)]
    simulate(_costs(max_num_seqs=1, max_waiting_seqs=0), nobody_waits)
    assert not nobody_waits[0].refused and len(nobody_waits[0].token_times) == 5


def test_abort_frees_the_slot_for_the_next_in_line() -> None:
    costs = _costs(max_num_seqs=1)
    kept = [Arrival(0.0, 10, 100), Arrival(0.0, 10, 3)]
    simulate(costs, kept)
    aborted = [Arrival(0.0, 10, 100), Arrival(0.0, 10, 3)]
    simulate(costs, aborted, abort_at={0: 0.05})
    assert len(aborted[0].token_times) < 100
    assert aborted[1].token_times[0] < kept[1].token_times[0] / 5
    assert len(aborted[1].token_times) == 3


def test_a_fully_cached_prompt_still_computes_one_token() -> None:
    seq = Sequence("x", 0, 2)
    assert seq.prefill_left_tokens == 1


_arrival = st.builds(
    Arrival,
    st.floats(min_value=0, max_value=0.5),
    st.integers(min_value=0, max_value=3000),
    st.integers(min_value=1, max_value=40),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_arrival, min_size=1, max_size=30),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=8, max_value=1024),
    st.integers(min_value=0, max_value=10),
)
def test_every_admitted_sequence_gets_exactly_its_tokens(
    arrivals: list[Arrival], max_num_seqs: int, budget: int, max_waiting: int
) -> None:
    costs = _costs(
        max_num_seqs=max_num_seqs, max_num_batched_tokens=budget, max_waiting_seqs=max_waiting
    )
    steps = simulate(costs, arrivals)
    for arrival in arrivals:
        expected = 0 if arrival.refused else arrival.output_tokens
        assert len(arrival.token_times) == expected
        assert arrival.token_times == sorted(arrival.token_times)
        if arrival.token_times:
            assert arrival.token_times[0] > arrival.t_s
    for step in steps:
        assert step.decode_seqs <= max_num_seqs
        assert step.prefill_tokens + step.decode_seqs <= budget
