from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.demo import DEMO_FAULT_KINDS, choose_demo_fault, demo_fault_shares
from mock_models.settings import DemoFaults

_share = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def demo_faults(draw: st.DrawFn) -> DemoFaults:
    shares = [draw(_share) for _ in DEMO_FAULT_KINDS]
    total = sum(shares)
    if total > 1.0:
        shares = [share / total * 0.999999 for share in shares]
    return DemoFaults(**dict(zip(DEMO_FAULT_KINDS, shares, strict=True)))


_u = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


@given(demo_faults(), _u)
def test_any_draw_gives_a_known_kind_or_none(faults: DemoFaults, u: float) -> None:
    assert choose_demo_fault(u, faults) in (*DEMO_FAULT_KINDS, None)


@given(demo_faults(), _u)
def test_draw_lands_in_the_region_of_the_kind_it_returns(faults: DemoFaults, u: float) -> None:
    lower = 0.0
    regions: dict[str, tuple[float, float]] = {}
    for kind, share in demo_fault_shares(faults):
        regions[kind] = (lower, lower + share)
        lower += share
    kind = choose_demo_fault(u, faults)
    if kind is None:
        assert u >= lower
    else:
        low, high = regions[kind]
        assert low <= u < high


@settings(max_examples=40)
@given(demo_faults())
def test_measure_of_each_region_is_its_share(faults: DemoFaults) -> None:
    # Sweep [0, 1) on a fine grid: the fraction of points per kind approximates its share
    # within the grid step (each region is an interval, so the error is at most two steps).
    steps = 5_000
    counts: dict[str | None, int] = {}
    for i in range(steps):
        kind = choose_demo_fault(i / steps, faults)
        counts[kind] = counts.get(kind, 0) + 1
    for kind, share in demo_fault_shares(faults):
        assert abs(counts.get(kind, 0) / steps - share) <= 2 / steps
    none_share = 1.0 - sum(share for _, share in demo_fault_shares(faults))
    assert abs(counts.get(None, 0) / steps - none_share) <= 2 / steps


@pytest.mark.parametrize("kind", DEMO_FAULT_KINDS)
def test_probability_one_always_chooses_that_kind(kind: str) -> None:
    faults = DemoFaults(**{kind: 1.0})
    assert {choose_demo_fault(u, faults) for u in (0.0, 0.5, 0.999999)} == {kind}


def test_no_faults_configured_never_faults() -> None:
    assert choose_demo_fault(0.0, DemoFaults()) is None
