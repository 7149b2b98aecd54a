"""Faults on whole deployments: a ``down`` rule refuses exactly inside its window and only for
its targets; ``flap`` is down in every other half-period of its window, and only for its
targets (the server as a whole only for rules aimed at every deployment)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from faults.profile import FaultProfile, parse_profile
from faults.timeline import flapping_down, refusing


def _profile(*rules: dict[str, Any]) -> FaultProfile:
    return parse_profile({"rule": list(rules)}, "test")


@given(
    start=st.floats(0, 100),
    length=st.floats(0.01, 100),
    t=st.floats(0, 300),
    ramp=st.floats(0, 10),
    probability=st.floats(0.01, 1),
)
def test_down_refuses_exactly_inside_its_window(
    start: float, length: float, t: float, ramp: float, probability: float
) -> None:
    profile = _profile(
        {
            "kind": "down",
            "probability": probability,
            "window": {"start": start, "end": start + length, "ramp": ramp},
            "targets": {"deployments": ["b"]},
        }
    )
    inside = start < t < start + length
    edge = min(abs(t - start), abs(t - start - length)) < 1e-6  # float rounding at the edges
    if not edge:
        assert refusing(profile, "b", "m", t) == inside
    assert not refusing(profile, "a", "m", t)


def test_rules_that_need_a_request_to_judge_never_close_a_listener() -> None:
    for targets in ({"apis": ["openai-chat"]}, {"stream": True}):
        profile = _profile({"kind": "down", "targets": targets})
        assert not refusing(profile, "b", "m", 1.0)
    assert not refusing(_profile({"kind": "down", "probability": 0}), "b", "m", 1.0)
    assert refusing(_profile({"kind": "down", "targets": {"models": ["m"]}}), "b", "m", 1.0)
    assert not refusing(_profile({"kind": "flap"}), "b", "m", 1.0)


@given(period=st.floats(0.1, 20), start=st.floats(0, 50), t=st.floats(0, 200))
def test_flap_alternates_by_half_periods_for_its_targets(
    period: float, start: float, t: float
) -> None:
    targeted = _profile(
        {
            "kind": "flap",
            "params": {"period_s": period},
            "window": {"start": start},
            "targets": {"deployments": ["b"]},
        }
    )
    everywhere = _profile(
        {"kind": "flap", "params": {"period_s": period}, "window": {"start": start}}
    )
    expected = t >= start and int((t - start) / (period / 2)) % 2 == 1
    assert flapping_down(targeted, "b", "m", t) == expected
    assert flapping_down(everywhere, "a", "m", t) == expected
    assert flapping_down(everywhere, None, None, t) == expected
    assert not flapping_down(targeted, "a", "m", t)
    assert not flapping_down(targeted, None, None, t)  # the server as a whole stays up
