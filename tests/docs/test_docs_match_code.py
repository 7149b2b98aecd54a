"""The reference tables in docs/ agree with the code: the summary.json keys of metrics.md with
what ``summarize`` produces (both ways), the budget metrics with the gate catalogue, the fault
kinds and shipped profiles with the catalogue, and the mock's settings keys with its models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from faults.catalogue import CATALOGUE
from faults.profile import library
from harness.contract.terms import Slo
from harness.cost import load_price_book
from harness.gates.catalog import COUNTERS, RATIOS, TRENDS_MS, VALUES
from harness.metrics.summary import SummaryInputs, summarize
from mock_models.settings import (
    DeploymentSettings,
    EngineSettings,
    MockSettings,
    RateLimitSettings,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Keys the summary carries only in some runs: ``harness.rebuild`` adds ``fault_windows``
#: when the upstream's fault profile has timed windows, and ``soak`` (which ``summarize``
#: does not compute) to every run it rebuilds.
OPTIONAL_SUMMARY_KEYS = {"fault_windows", "soak"}


def section(page: str, heading: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def first_cell_names(text: str) -> set[str]:
    """Backquoted names in the first cell of every table row of ``text``."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            names.update(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
    return names


def summary_keys() -> set[str]:
    summary = summarize(
        SummaryInputs(
            run_id="docs",
            duration_s=1.0,
            plan=[],
            records=[],
            ledger=None,
            prices=load_price_book({}),
            slo=Slo(),
            client_cpu_s=None,
            wall_s=None,
        )
    )
    return set(summary)


def test_every_summary_key_is_documented_and_no_other() -> None:
    documented = first_cell_names(section("metrics.md", "## summary.json"))
    produced = summary_keys()
    assert produced - documented == set(), "summary keys missing from docs/metrics.md"
    assert documented - produced - OPTIONAL_SUMMARY_KEYS == set(), "documented but not produced"


def test_first_cell_names_reads_only_the_first_column() -> None:
    table = "| key | meaning |\n|---|---|\n| `a`, `b` | see `c` |\n| `d` | x |\n"
    assert first_cell_names(table) == {"a", "b", "d"}


def test_every_budget_metric_is_in_the_budget_table() -> None:
    table = section("budgets.md", "### Expressions")
    listed = set(re.findall(r"`([a-z0-9_]+)`", table))
    catalogue = {*TRENDS_MS, *RATIOS, *COUNTERS, *VALUES}
    assert catalogue - listed == set(), "gate metrics missing from docs/budgets.md"
    rows = [line for line in table.splitlines() if line.startswith("| trend")]
    assert rows, "the metric kinds table of docs/budgets.md is gone"


def test_every_fault_kind_and_parameter_is_documented() -> None:
    table = section("faults.md", "## Fault kinds")
    for kind, spec in CATALOGUE.items():
        rows = [line for line in table.splitlines() if line.startswith(f"| `{kind.value}` |")]
        assert len(rows) == 1, f"{kind.value}: expected one row in docs/faults.md"
        for param, default in spec.params.items():
            assert f"`{param}` ({default:g})" in rows[0], f"{kind.value}: {param}"


def test_every_shipped_profile_is_documented() -> None:
    table = section("faults.md", "## Profiles")
    assert {name for name in library() if f"| `{name}` |" not in table} == set()


@pytest.mark.parametrize(
    "model",
    [MockSettings, DeploymentSettings, EngineSettings, RateLimitSettings],
    ids=lambda model: model.__name__,
)
def test_every_mock_setting_is_named(model: type[BaseModel]) -> None:
    text = (DOCS / "mock.md").read_text(encoding="utf-8")
    missing = [name for name in model.model_fields if f"`{name}`" not in text]
    assert not missing, f"{model.__name__}: {missing} not in docs/mock.md"
