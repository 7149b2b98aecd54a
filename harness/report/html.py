"""The HTML report: report context in, one self-contained ``report.html`` string out.

The template ships as package data (``harness/report/templates``); autoescaping is on for
everything, and only the chart SVGs that ``harness.report.charts`` drew are marked safe.
The page has inline CSS and inline SVG only, so it opens offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

TEMPLATE = "report.html.j2"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _trusted_charts(charts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"title": chart["title"], "svg": Markup(chart["svg"]) if chart["svg"] is not None else None}
        for chart in charts
    ]


def render_html(context: Mapping[str, Any]) -> str:
    values = dict(context)
    for key in ("charts_time", "charts_dist"):
        values[key] = _trusted_charts(list(values.get(key, [])))
    chart = values.get("soak_chart")
    values["soak_chart"] = Markup(chart) if chart is not None else None
    return _environment().get_template(TEMPLATE).render(**values)
