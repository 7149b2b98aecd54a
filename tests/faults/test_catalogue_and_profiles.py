"""The fault catalogue, fault profiles and the pure decision of which fault hits an attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.catalogue import CATALOGUE, FaultKind, Phase, resolve_params, spec
from faults.decide import AttemptContext, attempt_number, choose, forced, parse_fault_header
from faults.profile import ProfileError, Rule, Window, library, load_profile, parse_profile
from harness.contract.outcomes import Outcome

ISSUE_KINDS = (
    "delay hang http_429 quota_429 http_500 http_502 http_503 http_504 "
    "overloaded_529 http_400 http_401 http_404 http_413 stall cut reset error_event "
    "drop_usage wrong_usage slow_drip fragment malformed_chunk down flap"
).split()


def _context(
    t_s: float = 0.0, attempt: int | None = 1, deployment: str = "d", api: str = "openai-chat"
) -> AttemptContext:
    return AttemptContext(
        t_s=t_s, deployment=deployment, model="m", api=api, stream=True, attempt=attempt
    )


def test_the_catalogue_has_exactly_the_issues_kinds_each_mapped_to_an_outcome() -> None:
    assert sorted(k.value for k in CATALOGUE) == sorted(ISSUE_KINDS)
    outcomes = {o.value for o in Outcome}
    for kind_spec in CATALOGUE.values():
        assert kind_spec.outcome_stream in outcomes and kind_spec.outcome_body in outcomes
        if kind_spec.status is not None:
            assert kind_spec.phase is Phase.BEFORE
    assert spec("overloaded_529").status == 529 and spec("overloaded_529").retryable
    assert not spec("quota_429").retryable and spec("http_429").retryable


def test_params_resolve_over_defaults_and_reject_unknown_or_negative() -> None:
    assert resolve_params(FaultKind.CUT, {"after_tokens": 3}) == {"after_tokens": 3.0}
    assert resolve_params(FaultKind.STALL, {})["stall_s"] > 0
    with pytest.raises(ValueError, match="cut takes no parameter delay_ms"):
        resolve_params(FaultKind.CUT, {"delay_ms": 5})
    with pytest.raises(ValueError, match="must not be negative"):
        resolve_params(FaultKind.DELAY, {"delay_ms": -1})
    with pytest.raises(ValueError, match="unknown fault kind 'cutt'"):
        spec("cutt")


def test_every_shipped_profile_loads_and_names_known_kinds() -> None:
    names = library()
    assert {
        "flaky",
        "rate-limit-storm",
        "brownout",
        "regional-outage",
        "slow-drip",
        "cut-streams",
    } <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.name == name and profile.rule and profile.description


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[[rule]]\nkind = "cutt"\n', "rule[0].kind: unknown fault kind"),
        ('[[rule]]\nkind = "cut"\nprobability = 2\n', "rule[0].probability"),
        ('[[rule]]\nkind = "cut"\nparams = { delay_ms = 3 }\n', "cut takes no parameter delay_ms"),
        ('[[rule]]\nkind = "cut"\nwindow = { start = "9s", end = "3s" }\n', "end must come after"),
        ('[[rule]]\nkind = "cut"\nwindow = { start = "soon" }\n', "is not a duration"),
        ('[[rulez]]\nkind = "cut"\n', "rulez: unknown field"),
    ],
)
def test_bad_profiles_name_the_file_and_field(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ProfileError) as error:
        load_profile(str(path))
    assert str(path) in str(error.value) and expected in str(error.value)


def test_missing_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="brownout"):
        load_profile("no-such-profile")


def test_window_ramps_in_and_out() -> None:
    window = Window(start=10, end=30, ramp=5)
    assert [window.weight(t) for t in (9.9, 10, 12.5, 15, 20, 27.5, 30)] == [
        0.0,
        0.0,
        0.5,
        1.0,
        1.0,
        0.5,
        0.0,
    ]
    assert Window().weight(1e9) == 1.0


def test_choose_respects_targets_windows_and_first_attempts() -> None:
    profile = parse_profile(
        {
            "rule": [
                {"kind": "down", "targets": {"deployments": ["a"]}},
                {"kind": "http_503", "window": {"start": "10s", "end": "20s"}, "first_attempts": 1},
            ]
        },
        "test",
    )
    assert choose(profile, _context(deployment="a"), 0.99) is not None
    assert choose(profile, _context(deployment="b"), 0.0) is None  # outside the window
    hit = choose(profile, _context(t_s=15, deployment="b"), 0.5)
    assert hit is not None and hit.kind is FaultKind.HTTP_503 and hit.rule_index == 1
    assert choose(profile, _context(t_s=15, deployment="b", attempt=2), 0.5) is None


@given(
    shares=st.lists(st.floats(0, 0.5), min_size=1, max_size=4), u=st.floats(0, 1, exclude_max=True)
)
def test_rules_own_disjoint_slices_of_the_draw(shares: list[float], u: float) -> None:
    kinds = [FaultKind.HTTP_500, FaultKind.HTTP_502, FaultKind.HTTP_503, FaultKind.HTTP_504]
    profile = parse_profile(
        {"rule": [{"kind": kinds[i].value, "probability": p} for i, p in enumerate(shares)]}, "test"
    )
    edges = [0.0]
    for share in shares:
        edges.append(min(1.0, edges[-1] + share))
    hit = choose(profile, _context(), u)
    expected = next((i for i in range(len(shares)) if edges[i] <= u < edges[i + 1]), None)
    assert (None if hit is None else hit.rule_index) == expected


def test_fault_header_parsing() -> None:
    choice, first = parse_fault_header("cut; after_tokens=5; first_attempts=2")
    assert choice.kind is FaultKind.CUT and choice.params == {"after_tokens": 5.0}
    assert first == 2 and choice.source == "header"
    assert forced("http_429; first_attempts=1", attempt=1) is not None
    assert forced("http_429; first_attempts=1", attempt=2) is None
    assert forced(None, attempt=1) is None
    for bad, message in [
        ("", "empty"),
        ("boom", "unknown fault kind 'boom'"),
        ("cut; after_tokens", "not 'param=number'"),
        ("cut; delay_ms=4", "takes no parameter"),
        ("cut; first_attempts=0.5", "whole number"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_fault_header(bad)


def test_attempt_number_from_our_header_or_the_sdks() -> None:
    assert attempt_number({"x-tokenstorm-attempt": "3"}) == 3
    assert attempt_number({"x-stainless-retry-count": "0"}) == 1
    assert attempt_number({"x-stainless-retry-count": "2"}) == 3
    assert attempt_number({}) is None


def test_rule_models_are_frozen() -> None:
    rule = Rule(kind=FaultKind.CUT)
    with pytest.raises(ValueError):
        rule.probability = 0.5  # type: ignore[misc]


@settings(max_examples=40)
@given(shares=st.lists(st.floats(0, 0.5), min_size=1, max_size=4))
def test_each_rules_slice_measures_its_share_and_one_takes_it_all(shares: list[float]) -> None:
    # Sweep [0, 1) on a fine grid: the fraction of points per rule approximates its share
    # (capped where the shares pass 1) within the grid step.
    kinds = [FaultKind.HTTP_500, FaultKind.HTTP_502, FaultKind.HTTP_503, FaultKind.HTTP_504]
    rules = [{"kind": kinds[i].value, "probability": p} for i, p in enumerate(shares)]
    profile = parse_profile({"rule": rules}, "test")
    steps = 5_000
    counts: dict[int | None, int] = {}
    for i in range(steps):
        hit = choose(profile, _context(), i / steps)
        index = None if hit is None else hit.rule_index
        counts[index] = counts.get(index, 0) + 1
    edge = 0.0
    for index, share in enumerate(shares):
        capped = min(1.0, edge + share) - edge
        edge += capped
        assert abs(counts.get(index, 0) / steps - capped) <= 2 / steps
    assert abs(counts.get(None, 0) / steps - (1.0 - edge)) <= 2 / steps
    everything = parse_profile({"rule": [{"kind": "http_502"}]}, "test")
    hits = [choose(everything, _context(), u) for u in (0.0, 0.5, 0.999999)]
    assert [None if hit is None else hit.kind for hit in hits] == [FaultKind.HTTP_502] * 3


@given(
    u=st.floats(0, 1, exclude_max=True),
    api=st.sampled_from(["openai-chat", "openai-completions", "anthropic-messages"]),
    stream=st.booleans(),
)
def test_the_demo_profile_splits_the_draw_as_the_demo_table_did(
    u: float, api: str, stream: bool
) -> None:
    # The table laid 429, 500, 503 and cut out in that order over [0, 1), as running sums of
    # their shares: one draw per attempt lands in the same kind under the profile.
    upper, table = 0.0, None
    for kind, share in (("http_429", 0.04), ("http_500", 0.02), ("http_503", 0.02), ("cut", 0.03)):
        upper += share
        if u < upper:
            table = kind
            break
    context = AttemptContext(t_s=u * 60, deployment="d", model="m", api=api, stream=stream)
    hit = choose(load_profile("demo"), context, u)
    assert (None if hit is None else hit.kind.value) == table
