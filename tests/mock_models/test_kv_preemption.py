"""KV-cache capacity on the pure scheduler (fake clock): the cache is never overrun, the newest
sequence is preempted and recomputed, and every sequence still gets exactly its tokens."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from mock_models.sim.batching import BatchScheduler, Sequence, StepCosts


def _costs(kv_capacity_tokens: int, **overrides: int) -> StepCosts:
    fields = {"max_num_seqs": 8, "max_waiting_seqs": 100, "max_num_batched_tokens": 512}
    fields.update(overrides)
    return StepCosts(
        step_base_s=0.005,
        prefill_s_per_token=0.0001,
        decode_s_per_seq=0.001,
        kv_capacity_tokens=kv_capacity_tokens,
        **fields,
    )


@dataclass
class Run:
    """What a simulation saw: per sequence its token times, and per step its figures."""

    token_times: dict[int, list[float]] = field(default_factory=dict)
    kv_used: list[int] = field(default_factory=list)
    prefill_tokens: list[int] = field(default_factory=list)
    preempted: list[int] = field(default_factory=list)
    seqs: dict[int, Sequence[int]] = field(default_factory=dict)
    end_s: float = 0.0


def simulate(
    costs: StepCosts, arrivals: list[tuple[float, int, int, int]]
) -> tuple[Run, BatchScheduler[int]]:
    """``arrivals``: (time, uncached prompt, output, cached prompt) each, joining before the
    first step that starts at or after their time."""
    scheduler: BatchScheduler[int] = BatchScheduler(costs)
    run = Run()
    pending = sorted(range(len(arrivals)), key=lambda i: arrivals[i][0])
    now = 0.0
    while pending or not scheduler.idle:
        while pending and arrivals[pending[0]][0] <= now:
            index = pending.pop(0)
            _, uncached, output, cached = arrivals[index]
            seq = Sequence(index, uncached, output, cached)
            assert scheduler.submit(seq)
            run.seqs[index] = seq
            run.token_times[index] = []
        step = scheduler.step()
        if step is None:
            now = arrivals[pending[0]][0]
            continue
        now += step.duration_s
        run.kv_used.append(step.kv_used_tokens)
        run.prefill_tokens.append(step.prefill_tokens)
        run.preempted.append(step.preempted)
        for seq in step.emitting:
            run.token_times[seq.handle].append(now)
    run.end_s = now
    return run, scheduler


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(
        st.tuples(st.floats(0, 0.5), st.integers(0, 400), st.integers(1, 60), st.integers(0, 300)),
        min_size=1,
        max_size=25,
    ),
    spare_tokens=st.integers(0, 1500),
    max_num_seqs=st.integers(1, 10),
    budget=st.integers(1, 600),
)
def test_the_cache_is_never_overrun_and_every_sequence_gets_its_tokens(
    requests: list[tuple[float, int, int, int]], spare_tokens: int, max_num_seqs: int, budget: int
) -> None:
    # Every sequence fits on its own (the oldest is never preempted, so one that does not
    # would run over the capacity by design).
    largest = max(uncached + output + cached + 1 for _, uncached, output, cached in requests)
    capacity = largest + spare_tokens
    costs = _costs(capacity, max_num_seqs=max_num_seqs, max_num_batched_tokens=budget)
    run, scheduler = simulate(costs, requests)
    assert max(run.kv_used) <= capacity
    for index, (_, _, output, _) in enumerate(requests):
        assert len(run.token_times[index]) == output
        assert run.seqs[index].kv_tokens <= capacity
    assert scheduler.preemptions == sum(run.preempted)
    assert scheduler.preemptions == sum(seq.preemptions for seq in run.seqs.values())
    assert scheduler.kv_used_tokens == 0


def test_the_newest_sequence_is_preempted_and_goes_back_to_the_front_of_the_queue() -> None:
    # Two sequences of 100-token prompts growing by a token per step share 300 tokens of KV;
    # a third waits behind them.
    costs = _costs(300, max_num_seqs=2)
    scheduler: BatchScheduler[str] = BatchScheduler(costs)
    old, new, late = (Sequence("old", 100, 120), Sequence("new", 100, 120), Sequence("late", 10, 5))
    assert scheduler.submit(old) and scheduler.submit(new)
    first = scheduler.step()
    assert first is not None and first.prefill_tokens == 200
    assert scheduler.submit(late)
    steps = 1
    while True:
        step = scheduler.step()
        assert step is not None
        steps += 1
        if step.preempted:
            break
    assert step.preempted == 1 and new.preemptions == 1 and old.preemptions == 0
    assert new.kv_tokens == 0 and step.emitting == (old,)
    generated = new.generated_tokens
    assert 0 < generated < 120
    # Recompute: the prompt and the tokens already generated are prefilled again before the
    # next token, and the preempted sequence runs before the one that arrived after it.
    assert new.prefill_left_tokens == 100 + generated
    while old.generated_tokens < old.output_tokens:
        step = scheduler.step()
        assert step is not None
    step = scheduler.step()
    assert step is not None
    # Both fit once the old one is gone; the preempted one is admitted first.
    assert step.prefill_tokens == 100 + generated + 10 and step.emitting == (new, late)
    assert new.generated_tokens == generated + 1


def test_prefix_cache_hits_are_held_but_not_recomputed() -> None:
    costs = _costs(260, max_num_seqs=2)
    scheduler: BatchScheduler[str] = BatchScheduler(costs)
    old, new = Sequence("old", 100, 200), Sequence("new", 20, 200, cached_prompt_tokens=80)
    assert scheduler.submit(old) and scheduler.submit(new)
    step = scheduler.step()
    assert step is not None and step.prefill_tokens == 120 and step.kv_used_tokens == 200
    while not new.preemptions:
        assert scheduler.step() is not None
    assert new.prefill_left_tokens == 20 + new.generated_tokens


def test_a_full_cache_slows_the_streams_down() -> None:
    # Four streams whose contexts grow a token a step: with room for them all nobody is
    # preempted; with less, the preempted streams stall until there is room again, then
    # recompute, and the last token comes later.
    arrivals = [(0.0, 100, 200, 0) for _ in range(4)]
    roomy, _ = simulate(_costs(0), arrivals)
    tight, scheduler = simulate(_costs(700), arrivals)
    assert sum(roomy.preempted) == 0
    assert scheduler.preemptions > 0
    assert tight.end_s > roomy.end_s
    assert sum(tight.prefill_tokens) > sum(roomy.prefill_tokens)
    worst_gap = {
        name: max(b - a for times in run.token_times.values() for a, b in itertools.pairwise(times))
        for name, run in (("roomy", roomy), ("tight", tight))
    }
    assert worst_gap["tight"] > worst_gap["roomy"]


def test_one_sequence_larger_than_the_cache_still_finishes() -> None:
    run, scheduler = simulate(_costs(50), [(0.0, 100, 10, 0)])
    assert len(run.token_times[0]) == 10
    assert scheduler.preemptions == 0
