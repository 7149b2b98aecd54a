"""What two runs must share: runs and field names in, one sentence per differing field out.

Used by ``tokenstorm compare --require-same`` and by a budget's ``[baseline] require_same``.
``plan`` compares the ``plan.jsonl`` files (same scenario workload, rate, duration and seed);
named fields read the manifest (``SAME_FIELDS``); any other name is a dotted path into it
(``scenario.client.retry``), and a name no run's manifest has is an error rather than a
silent match. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness.stats.run_data import RunData

DEFAULT_REQUIRE_SAME = ("plan",)
#: Named fields -> their path in manifest.json ("plan" is the plan.jsonl hash instead).
SAME_FIELDS: dict[str, tuple[str, ...]] = {
    "seed": ("seed",),
    "name": ("name",),
    "workload": ("scenario", "workload"),
    "arrival": ("scenario", "arrival"),
    "duration": ("scenario", "duration"),
    "trace": ("scenario", "trace"),
    "target_model": ("scenario", "target", "model"),
    "api": ("api",),
    "target_url": ("target_url",),
    "retry": ("scenario", "client", "retry"),
    "slo": ("scenario", "slo"),
    "prices": ("scenario", "prices"),
    "mock": ("scenario", "mock"),
    "fault_profile": ("fault_profile",),
    "tokenstorm_version": ("tokenstorm_version",),
}
_MISSING = object()


class RequireSameError(ValueError):
    """A required field is neither known nor in any run's manifest; ``str()`` starts with it."""


def parse_require_same(text: str) -> tuple[str, ...]:
    """``"plan, seed,target_model"`` -> its names (``RequireSameError`` when one is empty)."""
    names = tuple(part.strip() for part in text.split(","))
    if not names or any(not name for name in names):
        raise RequireSameError(
            f"--require-same {text!r}: give field names separated by "
            "commas, e.g. plan,seed,target_model"
        )
    return names


def _path(name: str) -> tuple[str, ...]:
    return SAME_FIELDS.get(name) or tuple(name.split("."))


def _lookup(manifest: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    found: Any = manifest
    for part in path:
        if not isinstance(found, Mapping) or part not in found:
            return _MISSING
        found = found[part]
    return found


def _text(value: Any) -> str:
    if value is _MISSING:
        return "absent"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 48 else text[:45] + "..."


def differences(
    runs: Sequence[RunData], require_same: Sequence[str], names: Sequence[str]
) -> list[str]:
    """One sentence per run and field that differs from the first run's (``names`` are what
    the sentences call the runs); ``RequireSameError`` for a field no manifest has."""
    problems: list[str] = []
    for field in dict.fromkeys(require_same):
        problems.extend(
            _plan_problems(runs, names) if field == "plan" else _field_problems(runs, names, field)
        )
    return problems


def _plan_problems(runs: Sequence[RunData], names: Sequence[str]) -> list[str]:
    """Runs whose plan.jsonl differs from the first's (a run without one is not judged here)."""
    reference = runs[0]
    return [
        f"run {name} planned a different workload than {names[0]} (plan.jsonl sha256 "
        f"{str(run.plan_sha256)[:12]} vs {str(reference.plan_sha256)[:12]}): use the same "
        "scenario workload and seed"
        for run, name in zip(runs[1:], names[1:], strict=True)
        if None not in (run.plan_sha256, reference.plan_sha256)
        and run.plan_sha256 != reference.plan_sha256
    ]


def _field_problems(runs: Sequence[RunData], names: Sequence[str], field: str) -> list[str]:
    path = _path(field)
    values = [_lookup(run.manifest, path) for run in runs]
    if all(value is _MISSING for value in values):
        known = ", ".join(("plan", *SAME_FIELDS))
        raise RequireSameError(
            f"{field}: no run's manifest.json has it; use one of {known} or a dotted manifest path"
        )
    return [
        f"runs {names[0]} and {name} differ in {field} ({_text(values[0])} vs {_text(value)})"
        for name, value in zip(names[1:], values[1:], strict=True)
        if json.dumps(value, sort_keys=True, default=str)
        != json.dumps(values[0], sort_keys=True, default=str)
    ]
