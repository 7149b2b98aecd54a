"""Plan preview: figures agree with the plan, text stays compact, the SVG is valid."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import harness
from harness.contract.records import PlannedMessage, PlannedRequest
from workloads.planner import build_plan
from workloads.preview import PlanPreview, preview, render_svg, render_text, sparkline
from workloads.scenario import load_scenario, parse_scenario

DEMO = Path(harness.__file__).parent / "data" / "demo.toml"


def _request(
    session: str, turn: int, offset_s: float, *messages: PlannedMessage, prompt_tokens: int = 0
) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"{session}-t{turn}",
        session_id=session,
        turn=turn,
        offset_s=offset_s,
        think_s=0.0,
        prompt_tokens=prompt_tokens,
        max_tokens=10,
        model="m",
        api="openai-chat",
        stream=True,
        messages=messages,
        tags={"workload": "chat"},
    )


def test_shared_prefix_shares_follow_their_definitions() -> None:
    system = PlannedMessage(role="system", tokens=100, seed=1)
    plan = [
        _request("a", 1, 0.0, system, PlannedMessage(role="user", tokens=50, seed=2)),
        _request("a", 2, 1.0, PlannedMessage(role="user", tokens=50, seed=3)),
        _request("b", 1, 0.5, system, PlannedMessage(role="user", tokens=50, seed=4)),
    ]
    summary = preview(plan, 2.0)
    # Messages counted once per session: two copies of the system prompt out of all tokens.
    assert math.isclose(summary.shared_prefix_share, (100 + 100) / (150 + 50 + 150))
    # Weighted as sent: turn 2 of "a" re-sends the system prompt with its history.
    assert math.isclose(summary.shared_prefix_prompt_share, (100 + 100 + 100) / (150 + 200 + 150))
    assert summary.sessions == 2 and summary.requests == 3
    assert summary.turns_per_session_max == 2
    assert summary.first_turn_rps == (2.0, 0.0)


def test_empty_plan_previews_as_zeros() -> None:
    summary = preview([], 3.0)
    assert summary.requests == 0 and summary.sessions == 0
    assert summary.first_turn_rps == (0.0, 0.0, 0.0)
    assert summary.shared_prefix_share == 0.0
    assert render_text(summary)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["constant", "poisson"]),
    st.floats(0.5, 20.0),
    st.floats(0.3, 12.0),
    st.integers(0, 2**32),
)
def test_figures_agree_with_the_plan(
    process: str, rate: float, duration_s: float, seed: int
) -> None:
    scenario = parse_scenario(
        {
            "seed": seed,
            "duration": duration_s,
            "arrival": {"process": process, "rate": rate},
            "workload": [
                {"kind": "stream", "share": 2},
                {"kind": "chat", "model": "big"},
                {"kind": "agent_loop", "turns": {"dist": "geometric", "mean": 3}},
            ],
        }
    )
    plan = build_plan(scenario)
    summary = preview(plan, duration_s)
    assert summary.requests == len(plan)
    assert summary.sessions == len({request.session_id for request in plan})
    assert len(summary.first_turn_rps) == math.ceil(duration_s)
    last_width_s = duration_s - (math.ceil(duration_s) - 1)
    started = sum(summary.first_turn_rps[:-1]) + summary.first_turn_rps[-1] * last_width_s
    assert math.isclose(started, summary.sessions, abs_tol=1e-9)
    assert sum(summary.requests_by_workload.values()) == len(plan)
    assert sum(summary.requests_by_model.values()) == len(plan)
    assert summary.prompt_tokens_total == sum(request.prompt_tokens for request in plan)
    assert (
        summary.prompt_tokens_p50
        <= summary.prompt_tokens_p90
        <= summary.prompt_tokens_p99
        <= summary.prompt_tokens_max
    )
    assert summary.max_tokens_p50 <= summary.max_tokens_p90
    assert 0.0 <= summary.shared_prefix_share <= 1.0
    assert 0.0 <= summary.shared_prefix_prompt_share <= 1.0
    if summary.requests_by_workload.get("stream") == summary.requests:
        assert summary.shared_prefix_share == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1000.0), min_size=1, max_size=300), st.integers(1, 80))
def test_sparkline_is_bounded_and_scaled_to_its_peak(values: list[float], width: int) -> None:
    line = sparkline(values, width)
    assert len(line) == min(width, len(values))
    assert set(line) <= set(" ▁▂▃▄▅▆▇█")
    if len(values) <= width:
        peak = max(values)
        for value, char in zip(values, line, strict=True):
            assert (char == " ") == (value <= 0)
            if peak > 0 and value == peak:
                assert char == "█"


def _demo_preview() -> PlanPreview:
    scenario = load_scenario(DEMO)
    return preview(build_plan(scenario), scenario.duration)


def test_render_text_is_a_few_lines_with_a_sparkline() -> None:
    summary = _demo_preview()
    text = render_text(summary)
    lines = text.splitlines()
    assert 3 <= len(lines) <= 10
    assert sparkline(summary.first_turn_rps) in text
    assert f"{summary.requests:,} requests" in text
    for workload in summary.requests_by_workload:
        assert workload in text
    assert summary.shared_prefix_share > 0.0  # the demo's chat and agent share system prompts


def test_render_svg_is_valid_and_reproducible() -> None:
    summary = _demo_preview()
    svg = render_svg(summary)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "sessions started / s" in svg  # svg.fonttype none keeps text as text
    assert render_svg(summary) == svg
