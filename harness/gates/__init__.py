"""CI gates: a budget file and run directories in, verdicts, ``gates.json`` and ``junit.xml`` out.

``load_budget`` validates the budget (``BudgetError``: exit 104), ``load_run`` reads a run,
``evaluate`` gives a ``GateReport`` whose ``exit_code`` is 0 pass, 99 fail, 98 inconclusive.
Everything but ``load_run`` and ``load_budget`` is pure.
"""

from harness.gates.budget import Budget, BudgetError, load_budget, parse_budget
from harness.gates.evaluate import evaluate
from harness.gates.live import Abort, LiveCounts, first_breach
from harness.gates.live_trends import LiveTrends
from harness.gates.outputs import console_table, gates_json, junit_xml
from harness.gates.verdicts import (
    EXIT_BAD_BUDGET,
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_PASS,
    GateReport,
    GateResult,
    Verdict,
)
from harness.stats.run_data import RunData, RunDataError, load_run

__all__ = [
    "EXIT_BAD_BUDGET",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_PASS",
    "Abort",
    "Budget",
    "BudgetError",
    "GateReport",
    "GateResult",
    "LiveCounts",
    "LiveTrends",
    "RunData",
    "RunDataError",
    "Verdict",
    "console_table",
    "evaluate",
    "first_breach",
    "gates_json",
    "junit_xml",
    "load_budget",
    "load_run",
    "parse_budget",
]
