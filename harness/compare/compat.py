"""Can these runs be compared? Runs and what must be the same in, the reasons they cannot
(empty when they can) out.

What "the same" means is a list of field names (``--require-same``, see
``harness.stats.sameness``), checked against the first run. By default only ``plan``: the
``plan.jsonl`` files are byte-identical, while target, routing strategy, gateway settings and
the mock may differ, which is what a comparison is for.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.stats.run_data import RunData
from harness.stats.sameness import (
    DEFAULT_REQUIRE_SAME,
    SAME_FIELDS,
    RequireSameError,
    differences,
    parse_require_same,
)

__all__ = [
    "DEFAULT_REQUIRE_SAME",
    "SAME_FIELDS",
    "RequireSameError",
    "incompatibilities",
    "parse_require_same",
]


def incompatibilities(
    runs: Sequence[RunData],
    require_same: Sequence[str] = DEFAULT_REQUIRE_SAME,
    names: Sequence[str] | None = None,
) -> list[str]:
    """One sentence per run and field that differs from the first run's; ``names`` are what
    messages call the runs (their directories; the labels by default)."""
    if len(runs) < 2:
        return ["give at least two run directories to compare"]
    called = list(names) if names is not None else [run.label for run in runs]
    problems = (
        [
            f"run {name} has no plan.jsonl, so its workload is unknown"
            for run, name in zip(runs, called, strict=True)
            if run.plan_sha256 is None
        ]
        if "plan" in require_same
        else []
    )
    problems += differences(runs, require_same, called)
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        problems.append("two runs carry the same label: " + ", ".join(labels))
    return problems
