"""Every fault kind the demo decides has an action the server applies."""

from __future__ import annotations

import pytest

from faults.demo import DEMO_FAULT_KINDS
from mock_models.fault_actions import Cut, Refuse, action_for
from mock_models.settings import DemoFaults

_FAULTS = DemoFaults(retry_after_s=2.5, cut_after_tokens=7)


@pytest.mark.parametrize("kind", DEMO_FAULT_KINDS)
def test_each_demo_kind_has_an_action(kind: str) -> None:
    action = action_for(kind, _FAULTS)
    if kind == "cut":
        assert action == Cut(7)
    else:
        assert isinstance(action, Refuse)
        assert action.status == int(kind.removeprefix("http_"))
        assert action.retry_after_s == (2.5 if action.status == 429 else None)


def test_no_fault_no_action_and_unknown_kinds_are_named() -> None:
    assert action_for(None, _FAULTS) is None
    with pytest.raises(ValueError, match="stall"):
        action_for("stall", _FAULTS)
