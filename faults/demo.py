"""Fault decision for the mock's demo faults: one uniform draw and the shares in, a kind out.

Pure: the caller owns the RNG. The probability line [0, 1) is split into consecutive regions,
one per kind in a fixed order, so a draw ``u`` lands in at most one region and each kind is
chosen with exactly its configured probability.
"""

from __future__ import annotations

from typing import Final

from mock_models.settings import DemoFaults

#: Kind names as the fault catalogue spells them, in the order their regions are laid out.
DEMO_FAULT_KINDS: Final = ("http_429", "http_500", "http_503", "cut")


def demo_fault_shares(faults: DemoFaults) -> tuple[tuple[str, float], ...]:
    """Each demo fault kind with its probability, in region order."""
    return (
        ("http_429", faults.http_429),
        ("http_500", faults.http_500),
        ("http_503", faults.http_503),
        ("cut", faults.cut),
    )


def choose_demo_fault(u: float, faults: DemoFaults) -> str | None:
    """The fault whose region holds ``u`` (a uniform draw in [0, 1)), or None for no fault."""
    upper = 0.0
    for kind, share in demo_fault_shares(faults):
        upper += share
        if u < upper:
            return kind
    return None
