"""gates.json, junit.xml and the console table carry every row and the right verdicts."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from harness.gates import GateReport, GateResult, Verdict, console_table, gates_json, junit_xml

REPORT = GateReport(
    "run-1",
    "budget.toml",
    (
        GateResult("validity", "valid", "== true", Verdict.PASS),
        GateResult("thresholds", "ttft_ms", "p(99) < 800", Verdict.PASS, 700.0, 800.0, unit="ms"),
        GateResult(
            "thresholds", "e2e_ms{model=a&b}", "p(99) < 4s", Verdict.FAIL, 4500.0, 4000.0, unit="ms"
        ),
        GateResult(
            "thresholds", "retry_amplification", "value <= 1.3", Verdict.INCONCLUSIVE, detail="null"
        ),
        GateResult("regression", "ttft_ms", "p(99) <= baseline", Verdict.SKIPPED),
        GateResult(
            "thresholds",
            "error_rate",
            "rate < 1%",
            Verdict.FAIL,
            0.02,
            0.01,
            strict=False,
            unit="ratio",
        ),
    ),
)


def test_junit_has_one_testcase_per_row() -> None:
    suite = ElementTree.fromstring(junit_xml(REPORT))
    cases = suite.findall("testcase")
    assert len(cases) == len(REPORT.results) == int(suite.get("tests", "0"))
    assert [c.get("name") for c in cases] == [r.name for r in REPORT.results]
    assert suite.get("failures") == "1" and suite.get("errors") == "1"
    assert suite.get("skipped") == "2"
    failing = cases[2]
    failure = failing.find("failure")
    assert failure is not None and "4500 ms" in (failure.get("message") or "")


def test_gates_json_round_trips_through_json() -> None:
    document = json.loads(json.dumps(gates_json(REPORT)))
    assert document["verdict"] == REPORT.verdict.value == "fail"
    assert document["exit_code"] == 99
    assert [r["verdict"] for r in document["results"]] == [r.verdict.value for r in REPORT.results]


def test_console_table_marks_each_row() -> None:
    text = console_table(REPORT)
    lines = text.splitlines()
    assert len(lines) == len(REPORT.results) + 2
    assert lines[2].startswith("✓") and lines[3].startswith("✗")
    assert "(not strict)" in lines[6]
    assert lines[-1] == "gate verdict: FAIL (exit 99)"
