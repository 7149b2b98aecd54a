"""The planner: deterministic plans, ordered offsets, growing prompts, shares that hold."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

import harness
from harness.contract.records import PlannedRequest, read_jsonl, to_json_line, write_jsonl
from workloads.kinds import Workload
from workloads.planner import DEFAULT_MODEL, build_plan
from workloads.scenario import Scenario, load_scenario, parse_scenario

DEMO = Path(harness.__file__).parent / "data" / "demo.toml"


@st.composite
def workload_configs(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    config: dict[str, Any] = {"kind": kind, "share": draw(st.floats(min_value=0.1, max_value=5.0))}
    if kind != "stream":
        config["turns"] = {"dist": "geometric", "mean": draw(st.floats(1.0, 4.0)), "max": 8}
        config["system_prompt_tokens"] = draw(st.integers(min_value=0, max_value=2000))
    if kind == "chat":
        # A constant 0 think time makes offsets tie inside a session: ordering must still hold.
        config["think_time"] = draw(
            st.sampled_from([0, {"dist": "lognormal", "median": "1s", "sigma": 0.5}])
        )
    if kind == "agent_loop":
        config["tool_output_tokens"] = {"dist": "lognormal", "median": 200, "sigma": 1.0}
    if draw(st.booleans()):
        config["model"] = draw(st.sampled_from(["mock-small", "mock-large", "other"]))
    return config


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    kinds = draw(
        st.lists(st.sampled_from(["stream", "chat", "agent_loop"]), min_size=1, max_size=3)
    )
    return parse_scenario(
        {
            "seed": draw(st.integers(min_value=-(2**40), max_value=2**40)),
            "duration": draw(st.floats(min_value=0.5, max_value=6.0)),
            "arrival": {
                "process": draw(st.sampled_from(["constant", "poisson"])),
                "rate": draw(st.floats(min_value=0.5, max_value=10.0)),
            },
            "target": {
                "model": draw(st.sampled_from([None, "gateway-model"])),
                "stream": draw(st.booleans()),
            },
            "workload": [draw(workload_configs(kind)) for kind in kinds],
        }
    )


def _bytes(plan: list[PlannedRequest]) -> bytes:
    return b"".join(to_json_line(request) for request in plan)


def _sessions(plan: list[PlannedRequest]) -> dict[str, list[PlannedRequest]]:
    sessions: defaultdict[str, list[PlannedRequest]] = defaultdict(list)
    for request in plan:
        sessions[request.session_id].append(request)
    return dict(sessions)


@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_same_seed_same_bytes(scenario: Scenario) -> None:
    assert _bytes(build_plan(scenario)) == _bytes(build_plan(scenario))


@settings(max_examples=30, deadline=None)
@given(scenarios(), st.integers(min_value=-(2**40), max_value=2**40))
def test_different_seeds_give_different_plans(scenario: Scenario, other_seed: int) -> None:
    assume(other_seed != scenario.seed)
    plan = build_plan(scenario)
    assume(plan)
    assert _bytes(plan) != _bytes(build_plan(scenario.model_copy(update={"seed": other_seed})))


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_offsets_and_turns_are_ordered(scenario: Scenario) -> None:
    plan = build_plan(scenario)
    offsets = [request.offset_s for request in plan]
    assert offsets == sorted(offsets)
    for session_id, turns in _sessions(plan).items():
        # The returned order keeps a session's turns in order even when offsets tie.
        assert [request.turn for request in turns] == list(range(1, len(turns) + 1))
        assert turns[0].think_s == 0.0
        assert 0.0 <= turns[0].offset_s < scenario.duration
        offset_s = turns[0].offset_s
        for earlier, later in itertools.pairwise(turns):
            assert later.offset_s >= earlier.offset_s
            assert later.think_s >= 0.0
            offset_s += later.think_s
            assert later.offset_s == offset_s
        for request in turns:
            assert request.request_id == f"{session_id}-t{request.turn}"


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_prompt_tokens_count_every_planned_message_so_far(scenario: Scenario) -> None:
    for turns in _sessions(build_plan(scenario)).values():
        history_tokens = 0
        for request in turns:
            history_tokens += sum(message.tokens for message in request.messages)
            assert request.prompt_tokens == history_tokens


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_agent_prompts_never_shrink(scenario: Scenario) -> None:
    for turns in _sessions(build_plan(scenario)).values():
        if turns[0].tags["workload"] == "agent_loop":
            sizes = [request.prompt_tokens for request in turns]
            assert sizes == sorted(sizes)


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_requests_carry_target_settings_and_text_is_left_to_the_engine(scenario: Scenario) -> None:
    plan = build_plan(scenario)
    for request in plan:
        assert request.api == scenario.target.api
        assert request.stream == scenario.target.stream
        assert request.tags["workload"] in {"stream", "chat", "agent_loop"}
        assert request.max_tokens >= 0
        for message in request.messages:
            if message.tokens > 0:
                assert message.content == ""
            assert 0 <= message.seed < 2**53
    workload_models = {w.model for w in scenario.workload}
    fallback = scenario.target.model or DEFAULT_MODEL
    assert {request.model for request in plan} <= workload_models | {fallback}


@settings(max_examples=30, deadline=None)
@given(scenarios())
def test_system_prompts_share_a_seed_and_user_messages_do_not(scenario: Scenario) -> None:
    plan = build_plan(scenario)
    system_seeds: defaultdict[str, set[tuple[int, int]]] = defaultdict(set)
    unique_seeds: list[int] = []
    for request in plan:
        for message in request.messages:
            if message.role == "system":
                system_seeds[request.tags["workload"]].add((message.tokens, message.seed))
            else:
                unique_seeds.append(message.seed)
    kinds = Counter[str](w.kind for w in scenario.workload)
    for kind, keys in system_seeds.items():
        # One (tokens, seed) per workload: a kind used by k workloads has at most k.
        assert len(keys) <= kinds[kind]
    assert len(set(unique_seeds)) == len(unique_seeds)


@settings(max_examples=20, deadline=None)
@given(scenarios())
def test_adding_a_workload_moves_no_arrival(scenario: Scenario) -> None:
    extra = parse_scenario(
        {
            **scenario.model_dump(mode="json", exclude={"workload"}),
            "workload": [
                *(w.model_dump(mode="json") for w in scenario.workload),
                {"kind": "stream", "share": 3.0},
            ],
        }
    )

    def starts(plan: list[PlannedRequest]) -> list[float]:
        return [request.offset_s for request in plan if request.turn == 1]

    assert starts(build_plan(extra)) == starts(build_plan(scenario))


@settings(max_examples=20, deadline=None)
@given(scenarios())
def test_a_longer_run_keeps_the_shorter_runs_sessions(scenario: Scenario) -> None:
    longer = scenario.model_copy(update={"duration": scenario.duration * 2})
    short_lines = {to_json_line(request) for request in build_plan(scenario)}
    long_lines = {to_json_line(request) for request in build_plan(longer)}
    assert short_lines <= long_lines


@settings(max_examples=8, deadline=None)
@given(
    st.lists(st.floats(min_value=0.05, max_value=1.0), min_size=2, max_size=4),
    st.integers(min_value=0, max_value=2**32),
)
def test_workload_shares_hold_over_many_sessions(shares: list[float], seed: int) -> None:
    sessions = 2000
    scenario = parse_scenario(
        {
            "seed": seed,
            "duration": sessions / 100.0,
            "arrival": {"process": "constant", "rate": 100.0},
            "workload": [
                {
                    "kind": "stream",
                    "share": share,
                    "tags": {"workload": f"w{index}"},
                    "prompt_tokens": 1,
                }
                for index, share in enumerate(shares)
            ],
        }
    )
    counts = Counter(request.tags["workload"] for request in build_plan(scenario))
    assert sum(counts.values()) == sessions
    for index, share in enumerate(shares):
        p = share / sum(shares)
        # Each count is Binomial(sessions, p); 5 standard deviations.
        tolerance = 5.0 * math.sqrt(sessions * p * (1.0 - p))
        assert abs(counts[f"w{index}"] - sessions * p) <= tolerance


def test_demo_scenario_plans_what_it_says(tmp_path: Path) -> None:
    scenario = load_scenario(DEMO)
    plan = build_plan(scenario)
    assert plan
    by_workload: dict[str, Workload] = {w.kind: w for w in scenario.workload}
    for turns in _sessions(plan).values():
        kind = turns[0].tags["workload"]
        workload = by_workload[kind]
        assert {request.model for request in turns} == {workload.model or scenario.target.model}
        assert all(request.max_tokens == workload.max_tokens.value for request in turns)
        assert all(request.tags.items() >= workload.tags.items() for request in turns)
        if kind == "stream":
            assert len(turns) == 1
        else:
            turn_max = workload.turns.max  # type: ignore[union-attr]
            assert turn_max is not None and len(turns) <= turn_max
            system = turns[0].messages[0]
            assert system.role == "system"
            assert system.tokens == workload.system_prompt_tokens  # type: ignore[union-attr]
    assert {request.tags["workload"] for request in plan} == set(by_workload)
    path = tmp_path / "plan.jsonl"
    assert write_jsonl(path, plan) == len(plan)
    assert list(read_jsonl(path, PlannedRequest)) == plan


def test_a_user_given_workload_tag_is_kept() -> None:
    scenario = parse_scenario(
        {
            "duration": 2,
            "arrival": {"process": "constant", "rate": 2},
            "workload": [{"kind": "stream", "tags": {"workload": "autocomplete", "tenant": "a"}}],
        }
    )
    plan = build_plan(scenario)
    assert plan and all(dict(r.tags) == {"workload": "autocomplete", "tenant": "a"} for r in plan)
    assert all(request.model == DEFAULT_MODEL for request in plan)


def test_tied_offsets_keep_turns_in_numeric_order() -> None:
    # Zero think time puts all turns of a session on one offset; turn 10 must follow turn 9.
    scenario = parse_scenario(
        {
            "duration": 1,
            "arrival": {"process": "constant", "rate": 2},
            "workload": [{"kind": "chat", "turns": 12, "think_time": 0}],
        }
    )
    plan = build_plan(scenario)
    for turns in _sessions(plan).values():
        assert [request.turn for request in turns] == list(range(1, 13))
