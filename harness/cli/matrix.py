"""``tokenstorm run SCENARIO --matrix TARGETS.toml``: one workload against several targets.

A matrix file lists targets; each entry names its run and overrides the scenario's
``[target]`` keys (``url``, ``api``, ``model``, ...) or, for the embedded mock, its ``[mock]``
keys::

    [[target]]
    name = "fast"
    mock = { deployments = [{ name = "a", model = "mock-small", ttft_ms = 40 }] }
    [[target]]
    name = "gateway-b"
    url = "http://127.0.0.1:8001/v1"

Every entry runs in turn with the scenario's seed (so the same planned workload) into
``OUT/MATRIX_ID/NAME``, and the matrix ends with ``comparison.md``/``.html`` in
``OUT/MATRIX_ID`` (the first entry is the reference).
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads.scenario import Scenario, ScenarioError, parse_scenario

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class MatrixEntry:
    name: str
    scenario: Scenario


def _entry(source: str, index: int, raw: Any, base: dict[str, Any]) -> MatrixEntry:
    where = f"{source}: [[target]] #{index + 1}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{where}: needs name = \"...\" (letters, digits, '.', '_', '-'): "
            "it names the entry's run directory"
        )
    where = f"{source}: [[target]] {name!r}"
    data = dict(base)
    overrides = {k: v for k, v in raw.items() if k not in ("name", "mock")}
    data["target"] = {**data.get("target", {}), **overrides}
    if "mock" in raw:
        if not isinstance(raw["mock"], dict):
            raise ValueError(f"{where}: mock must be a table of mock settings")
        data["mock"] = {**data.get("mock", {}), **raw["mock"]}
    try:
        return MatrixEntry(name, parse_scenario(data, where))
    except ScenarioError as exc:
        raise ValueError(str(exc)) from None


def parse_matrix(text: str, source: str, scenario: Scenario) -> list[MatrixEntry]:
    """The matrix's entries as scenarios; ``ValueError`` with one line naming file and entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"target"})
    if unknown:
        raise ValueError(
            f"{source}: unknown key {unknown[0]!r}; a matrix file holds [[target]] entries only"
        )
    raw_entries = data.get("target")
    if not isinstance(raw_entries, list) or len(raw_entries) < 2:
        raise ValueError(f"{source}: needs at least two [[target]] entries to compare")
    base = scenario.model_dump(mode="json", exclude_unset=True)
    entries = [_entry(source, i, raw, base) for i, raw in enumerate(raw_entries)]
    names = [e.name for e in entries]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ValueError(f"{source}: two [[target]] entries are named {duplicate!r}")
    return entries


def load_matrix(path: Path, scenario: Scenario) -> list[MatrixEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such matrix file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read matrix file ({exc})") from None
    return parse_matrix(text, str(path), scenario)


def worst_code(codes: list[int]) -> int:
    """One exit code for several gated runs: any fail, else any inconclusive, else pass."""
    for code in (99, 98):
        if code in codes:
            return code
    return max(codes, default=0)


def announce(entry: MatrixEntry, index: int, count: int) -> None:
    target = entry.scenario.target.url or "embedded mock"
    sys.stderr.write(f"matrix {index + 1}/{count}: {entry.name} ({target})\n")
