"""Can these runs be compared? Runs in, the reasons they cannot (empty when they can) out.

Runs are comparable when they sent the same planned workload: their ``plan.jsonl`` files are
byte-identical (same scenario workload, rate, duration and seed). Target, routing strategy,
gateway settings and the mock's latency may differ: that is what a comparison is for.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.gates.run_data import RunData


def incompatibilities(runs: Sequence[RunData]) -> list[str]:
    """One sentence per run whose workload differs from the first run's."""
    if len(runs) < 2:
        return ["give at least two run directories to compare"]
    reference = runs[0]
    problems: list[str] = []
    for run in runs:
        if run.plan_sha256 is None:
            problems.append(f"run {run.label} has no plan.jsonl, so its workload is unknown")
    for run in runs[1:]:
        if None not in (run.plan_sha256, reference.plan_sha256) and \
                run.plan_sha256 != reference.plan_sha256:
            problems.append(
                f"run {run.label} planned a different workload than {reference.label} "
                f"(plan.jsonl sha256 {str(run.plan_sha256)[:12]} vs "
                f"{str(reference.plan_sha256)[:12]}): use the same scenario workload and seed")
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        problems.append("two runs carry the same label: " + ", ".join(labels))
    return problems
