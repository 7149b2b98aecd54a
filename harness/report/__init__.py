"""Reports: a summary, the attempt records and the run manifest in, ``report.html`` and
``report.md`` in the run directory out (with the ✓/✗ gate table when ``gates.json`` exists,
and the cost at scale when ``projection.json`` does)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.contract.records import AttemptRecord
from harness.report.context import chart_context, table_context
from harness.report.gates import gate_context
from harness.report.html import render_html
from harness.report.markdown import render_markdown
from harness.report.projection import projection_context

__all__ = ["render_html", "render_markdown", "write_reports"]


def write_reports(
    run_dir: Path,
    summary: Mapping[str, Any],
    records: Sequence[AttemptRecord],
    manifest: Mapping[str, Any],
) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained, opens offline) and ``report.md``; return both."""
    context = {
        **table_context(summary, manifest),
        **gate_context(run_dir / "gates.json"),
        **projection_context(run_dir / "projection.json"),
    }
    html_path = run_dir / "report.html"
    md_path = run_dir / "report.md"
    md_path.write_text(render_markdown(context), encoding="utf-8")
    html_path.write_text(
        render_html({**context, **chart_context(summary, records)}), encoding="utf-8"
    )
    return html_path, md_path
