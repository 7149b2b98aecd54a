"""Gate verdicts: per-check results in, the run's overall verdict and exit code out.

Exit codes follow k6 where k6 has one: 0 pass, 99 a threshold or regression failed, 104 the
budget file is bad; 98 inconclusive (the generator was the bottleneck, or a figure could not
be measured), which is never a pass. An invalid run is inconclusive even when some check
failed: its figures describe the load generator as much as the target. A check marked
``strict = false`` is reported but does not move the verdict; a skipped check (a regression
without ``--baseline``) neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

EXIT_PASS = 0
EXIT_INCONCLUSIVE = 98
EXIT_FAIL = 99
EXIT_BAD_BUDGET = 104


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


VALIDITY = "validity"


@dataclass(frozen=True, slots=True)
class GateResult:
    """One row of the gate table (and one JUnit test case)."""

    section: str
    metric: str
    expression: str
    verdict: Verdict
    observed: float | None = None
    limit: float | None = None
    baseline: float | None = None
    detail: str = ""
    strict: bool = True
    unit: str | None = None
    samples: int | None = None

    @property
    def name(self) -> str:
        return f"{self.metric}: {self.expression}"


@dataclass(frozen=True, slots=True)
class GateReport:
    run: str
    budget: str
    results: tuple[GateResult, ...]
    baseline_run: str | None = None

    @property
    def verdict(self) -> Verdict:
        return overall(self.results)

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdict)


def overall(results: Sequence[GateResult]) -> Verdict:
    counted = [r for r in results if r.strict and r.verdict != Verdict.SKIPPED]
    if any(r.section == VALIDITY and r.verdict != Verdict.PASS for r in counted):
        return Verdict.INCONCLUSIVE
    if any(r.verdict == Verdict.FAIL for r in counted):
        return Verdict.FAIL
    if any(r.verdict == Verdict.INCONCLUSIVE for r in counted):
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def exit_code(verdict: Verdict) -> int:
    if verdict == Verdict.FAIL:
        return EXIT_FAIL
    if verdict == Verdict.INCONCLUSIVE:
        return EXIT_INCONCLUSIVE
    return EXIT_PASS
