"""The workloads package: its exports, its registry and its import direction."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import workloads
from harness.scenario import Workload
from workloads.registry import registered_kinds

PACKAGE = Path(workloads.__file__).parent
#: Pure planning may read the scenario and write plan records, nothing else of the harness.
ALLOWED_HARNESS = {"harness.records", "harness.scenario", "harness.scenario_traffic"}


def test_exports_exist_and_are_sorted() -> None:
    assert workloads.__all__ == sorted(workloads.__all__)
    for name in workloads.__all__:
        assert hasattr(workloads, name), name


def test_every_scenario_workload_kind_has_a_builder() -> None:
    union = typing.get_args(Workload)[0]
    kinds = {cls.model_fields["kind"].annotation.__args__[0] for cls in typing.get_args(union)}
    assert kinds == set(registered_kinds())


def test_workloads_imports_only_records_and_scenario_from_the_harness() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("harness"):
                    assert name in ALLOWED_HARNESS, f"{path.name} imports {name}"
                assert not name.startswith(("mock_models", "faults")), f"{path.name}: {name}"
