"""The workloads package: its exports, and its kinds table agreeing with the scenario union."""

from __future__ import annotations

import typing

import workloads
from workloads.kinds import KINDS, Workload


def test_exports_exist_and_are_sorted() -> None:
    # ruff's order (RUF022): CONSTANTS, then Classes, then functions, each alphabetical
    def kind(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert workloads.__all__ == sorted(workloads.__all__, key=kind)
    for name in workloads.__all__:
        assert hasattr(workloads, name), name


def test_every_scenario_workload_kind_has_a_builder() -> None:
    union = typing.get_args(Workload)[0]
    kinds = {cls.model_fields["kind"].annotation.__args__[0] for cls in typing.get_args(union)}
    assert kinds == set(KINDS)
    assert {cls for cls, _ in KINDS.values()} == set(typing.get_args(union))
