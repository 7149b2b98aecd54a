"""Side-by-side comparison of runs of one workload: run data in, figures, differences with
confidence intervals and significance, ``comparison.md`` and ``comparison.html`` out.

``incompatibilities`` says why runs cannot be compared (different planned workloads);
``compare_runs`` computes; ``render_markdown`` / ``render_html`` format. Pure but for the
callers' file writes.
"""

from harness.compare.compat import incompatibilities
from harness.compare.render import render_html, render_markdown
from harness.compare.table import Comparison, Difference, compare_runs

__all__ = [
    "Comparison",
    "Difference",
    "compare_runs",
    "incompatibilities",
    "render_html",
    "render_markdown",
]
