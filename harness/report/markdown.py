"""The Markdown report: report context in, a short ``report.md`` for CI job summaries out.

Verdict line, headline table, outcome counts, the by-requested-model table (client's view), the
by-wire-API split when the run spoke more than one API (chat beside embeddings), the special
traffic tables (gateway cache hits, guardrail probes per category) when the run had them, and
the by-upstream-deployment table (upstream's view); no charts. Table cells are escaped so
that a model name or note with ``|`` cannot break a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.report import tables
from harness.report.projection import projection_lines


def _cell(value: str) -> str:
    # GitHub renders inline HTML in job summaries; user text must stay text.
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return lines


def soak_lines(soak: Mapping[str, Any] | None) -> list[str]:
    """The soak section: verdict, trends, first against last, bursts and the SUT's leak."""
    if not soak:
        return []
    lines = ["### Soak", "", f"**{_cell(soak['headline'])}** ({soak['windows']})", ""]
    if soak["trends"]:
        lines.extend(markdown_table(soak["trend_header"], soak["trends"]))
        lines.append("")
    if soak["first_last"]:
        lines.append(f"First against last {soak['first_last_span']}:")
        lines.append("")
        lines.extend(markdown_table(soak["first_last_header"], soak["first_last"]))
        lines.append("")
    lines.extend(f"- {_cell(line)}" for line in (soak["bursts"], soak["leak"]) if line)
    if soak["bursts"] or soak["leak"]:
        lines.append("")
    return lines


def _split_and_traffic_lines(context: Mapping[str, Any]) -> list[str]:
    """The by-wire-API table (only when it splits the run) and the special traffic tables."""
    lines: list[str] = []
    groups: Sequence[tuple[str, list[Sequence[str]]]] = context["group_tables"]
    by_api = next((rows for title, rows in groups if title == "wire API"), [])
    if len(by_api) > 1:
        header = tuple(h or "wire API" for h in tables.GROUP_HEADER)
        lines.extend(["### By wire API (client's view)", "", *markdown_table(header, by_api), ""])
    for title, header, rows in context.get("traffic_tables") or ():
        heading = _cell(str(title))
        lines.extend([f"### {heading[:1].upper()}{heading[1:]}", ""])
        lines.extend(markdown_table(header, rows) if rows else ["no data"])
        lines.append("")
    return lines


def render_markdown(context: Mapping[str, Any]) -> str:
    run = context["run"]
    mark = "✅" if context["valid"] else "❌"
    lines = [
        f"## tokenstorm run `{run['run_id']}` ({_cell(run['scenario_name'])})",
        "",
        f"{mark} **{context['verdict']}**",
        "",
    ]
    lines.extend(f"- {_cell(note)}" for note in context["validity_notes"])
    lines.extend(f"- note: {_cell(note)}" for note in context["notes"])
    if context["validity_notes"] or context["notes"]:
        lines.append("")
    if context.get("gates"):
        lines.append(f"### Gates: {str(context['gate_verdict']).upper()}")
        lines.append("")
        lines.extend(markdown_table(context["gate_header"], context["gates"]))
        lines.append("")
    lines.extend(markdown_table(("figure", "value"), context["headline"]))
    lines.append("")
    lines.extend(soak_lines(context.get("soak")))
    if context.get("projection_document"):
        lines.extend(projection_lines(context["projection_document"], markdown_table))
        lines.append("")
    if context.get("windows"):
        lines.append("### Fault windows")
        lines.append("")
        lines.extend(markdown_table(context["window_header"], context["windows"]))
        lines.append("")
    outcomes = context["outcome_tables"][0][1]
    lines.append("### Outcomes (final outcome per request)")
    lines.append("")
    lines.extend(markdown_table(("outcome", "requests"), outcomes) if outcomes else ["no requests"])
    lines.append("")
    by_model = next(rows for title, rows in context["group_tables"] if title == "requested model")
    lines.append("### By requested model (client's view)")
    lines.append("")
    header = tuple(h or "requested model" for h in tables.GROUP_HEADER)
    lines.extend(markdown_table(header, by_model) if by_model else ["no requests"])
    lines.append("")
    lines.extend(_split_and_traffic_lines(context))
    lines.append(f"### {str(context['upstream_title']).capitalize()}")
    lines.append("")
    upstream = context["upstream"]
    lines.extend(
        markdown_table(context["upstream_header"], upstream) if upstream else ["no attempts"]
    )
    lines.append("")
    lines.append(
        f"_{context['snapshot']}; target {_cell(run['target'])}; started {run['started_at']}_"
    )
    return "\n".join(lines) + "\n"
