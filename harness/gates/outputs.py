"""Gate outputs: a ``GateReport`` in, the ``gates.json`` object, ``junit.xml`` text and the
console's ✓/✗ table out (strings and dicts only; the CLI writes the files)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from harness.gates.verdicts import GateReport, GateResult, Verdict

GATES_SCHEMA = "tokenstorm.gates/1"
MARKS = {Verdict.PASS: "✓", Verdict.FAIL: "✗", Verdict.INCONCLUSIVE: "?", Verdict.SKIPPED: "-"}


def figure_text(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.4g} ({value:.2%})"
    suffix = f" {unit}" if unit in ("ms", "s") else ""
    return f"{value:.6g}{suffix}"


def result_json(result: GateResult) -> dict[str, Any]:
    return {
        "section": result.section,
        "metric": result.metric,
        "expression": result.expression,
        "verdict": result.verdict.value,
        "observed": result.observed,
        "limit": result.limit,
        "baseline": result.baseline,
        "unit": result.unit,
        "samples": result.samples,
        "strict": result.strict,
        "detail": result.detail,
    }


def gates_json(report: GateReport) -> dict[str, Any]:
    """The content of ``gates.json``."""
    return {
        "schema": GATES_SCHEMA,
        "run_id": report.run,
        "budget": report.budget,
        "baseline_run_id": report.baseline_run,
        "verdict": report.verdict.value,
        "exit_code": report.exit_code,
        "results": [result_json(r) for r in report.results],
    }


def junit_xml(report: GateReport) -> str:
    """One ``<testcase>`` per check: failure for fail, error for inconclusive, skipped."""
    suite = ElementTree.Element("testsuite", name=f"tokenstorm gates {report.run}")
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for result in report.results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"tokenstorm.{result.section}", name=result.name
        )
        message = (
            f"observed {figure_text(result.observed, result.unit)}, limit "
            f"{figure_text(result.limit, result.unit)}"
            + (f"; {result.detail}" if result.detail else "")
        )
        if result.verdict == Verdict.FAIL and result.strict:
            ElementTree.SubElement(case, "failure", message=message).text = message
            counts["failures"] += 1
        elif result.verdict == Verdict.INCONCLUSIVE and result.strict:
            ElementTree.SubElement(case, "error", message=message).text = message
            counts["errors"] += 1
        elif result.verdict == Verdict.SKIPPED or not result.strict:
            ElementTree.SubElement(case, "skipped", message=message)
            counts["skipped"] += 1
        else:
            ElementTree.SubElement(case, "system-out").text = message
    suite.set("tests", str(len(report.results)))
    for key, value in counts.items():
        suite.set(key, str(value))
    body = ElementTree.tostring(suite, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def table_rows(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    """Display rows from ``gates.json`` results: mark, section, check, observed, limit, detail."""
    rows = []
    for r in results:
        verdict = Verdict(r["verdict"])
        mark = MARKS[verdict] + ("" if r.get("strict", True) else " (not strict)")
        rows.append(
            (
                mark,
                r["section"],
                f"{r['metric']}: {r['expression']}",
                figure_text(r.get("observed"), r.get("unit")),
                figure_text(r.get("limit"), r.get("unit")),
                r.get("detail") or "",
            )
        )
    return rows


def console_table(report: GateReport) -> str:
    document = gates_json(report)
    rows = table_rows(document["results"])
    header = ("", "section", "check", "observed", "limit", "detail")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + ("  " + row[5] if row[5] else "")
        for row in (header, *rows)
    ]
    lines.append(f"gate verdict: {report.verdict.value.upper()} (exit {report.exit_code})")
    return "\n".join(line.rstrip() for line in lines)
