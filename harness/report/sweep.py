"""The sweep's report: a ``sweep.json`` document in; its step table, answer, frontier table and
two charts (latency against offered load, goodput against offered load) as text, Markdown and
one self-contained HTML page out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.report import formatting as fmt
from harness.report.charts import render_svg

STEP_HEADER = (
    "run",
    "load",
    "offered",
    "achieved",
    "goodput",
    "TTFT p50",
    "TTFT p99",
    "E2E p50",
    "E2E p99",
    "errors",
    "SLO",
)
FRONTIER_HEADER = ("p99 of", "under", "highest load", "achieved", "")
_BOUND_WORDS = {
    "converged": "",
    "bracketed": "somewhere below the next value",
    "at_least": "at least: nothing higher was measured",
    "below": "below the lowest value tried",
    "unknown": "unknown",
}


def _value(document: Mapping[str, Any], value: Any) -> str:
    if not isinstance(value, int | float):
        return fmt.MISSING
    return f"{value:g}" if document.get("by") == "concurrency" else fmt.rate(value)


def step_rows(document: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for step in document.get("steps") or ():
        figures = step.get("figures") or {}
        rows.append(
            [
                str(step.get("run")),
                _value(document, step.get("value")),
                fmt.rate(figures.get("offered_rps")),
                fmt.rate(figures.get("achieved_rps")),
                fmt.rate(figures.get("goodput_rps")),
                fmt.ms(figures.get("ttft_p50_ms")),
                fmt.ms(figures.get("ttft_p99_ms")),
                fmt.ms(figures.get("e2e_p50_ms")),
                fmt.ms(figures.get("e2e_p99_ms")),
                fmt.share(figures.get("error_rate")),
                str(step.get("outcome")),
            ]
        )
    return rows


def _crossing(document: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    if row.get("bound") == "bracketed":
        return f"over at {_value(document, row.get('first_over'))}"
    return _BOUND_WORDS.get(str(row.get("bound")), "")


def frontier_rows(document: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            str(row.get("metric")),
            fmt.ms(row.get("limit_ms")),
            _value(document, row.get("value")),
            fmt.rate(row.get("achieved_rps")),
            _crossing(document, row),
        ]
        for row in document.get("frontier") or ()
    ]


def answer_lines(document: Mapping[str, Any]) -> list[str]:
    """The answer in words: the highest load meeting the SLO, its range and what stopped."""
    result = document.get("result") or {}
    unit = "sessions in flight" if document.get("by") == "concurrency" else "sessions/s"
    value = result.get("value")
    words = _BOUND_WORDS.get(str(result.get("bound")), "")
    lines = [f"SLO: {'; '.join(document.get('slo') or ())}"]
    if value is None:
        lines.append(f"highest load meeting the SLO: none found ({words})")
    else:
        lines.append(
            f"highest load meeting the SLO: {value:g} {unit}"
            + (f" ({words})" if words else "")
            + f", {fmt.rate(result.get('max_rps_meeting_slo'))} achieved"
        )
    interval = result.get("interval")
    if isinstance(interval, Mapping):
        lines.append(
            f"over repeats: {interval['low']:g} to {interval['high']:g} "
            f"(covers the median repeat's limit with probability {interval['coverage']:.0%})"
        )
    stopped = {
        "slo": "the search narrowed the knee to its tolerance",
        "rig": f"step {result.get('invalid_run')} was invalid: the test rig could not hold it, "
        "so it is not the system's limit and no higher load was tried",
        "top": "the highest value allowed was reached",
        "max_steps": "the step budget ran out",
        "bottom": "the lowest value allowed was reached",
    }
    lines.append(f"stopped: {stopped.get(str(result.get('limited_by')), 'nothing measured')}")
    return lines


def markdown(document: Mapping[str, Any], table: Any) -> str:
    lines = [f"## tokenstorm sweep `{document.get('sweep_id')}`", ""]
    lines.extend(f"- {line}" for line in answer_lines(document))
    lines.extend(["", "### Steps", ""])
    lines.extend(table(STEP_HEADER, step_rows(document)))
    if document.get("frontier"):
        lines.extend(["", "### Frontier", ""])
        lines.extend(table(FRONTIER_HEADER, frontier_rows(document)))
    lines.extend(f"- note: {note}" for note in document.get("notes") or ())
    return "\n".join(lines) + "\n"


def _points(steps: Sequence[Mapping[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    pairs = [
        (
            float(step["value"] if x == "value" else step["figures"].get(x)),
            float(step["figures"][y]),
        )
        for step in steps
        if step.get("outcome") != "invalid"
        and isinstance(step.get("figures", {}).get(y), int | float)
        and (x == "value" or isinstance(step.get("figures", {}).get(x), int | float))
    ]
    pairs.sort()
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _invalid(steps: Sequence[Mapping[str, Any]]) -> list[float]:
    return [float(s["value"]) for s in steps if s.get("outcome") == "invalid"]


def latency_chart(document: Mapping[str, Any]) -> str | None:
    steps = list(document.get("steps") or ())
    if not any(s.get("outcome") != "invalid" for s in steps):
        return None

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        for name, style in (("ttft", "--"), ("e2e", "-")):
            for quantile, marker in (("p50", "o"), ("p99", "s")):
                xs, ys = _points(steps, "value", f"{name}_{quantile}_ms")
                if xs:
                    ax.plot(xs, ys, style, marker=marker, label=f"{name.upper()} {quantile}")
        for value in _invalid(steps):
            ax.axvline(value, color="#c62828", linestyle=":", label="invalid step (rig bound)")
        ax.set_yscale("log")
        ax.set_xlabel(
            "offered load ("
            + ("sessions in flight" if document.get("by") == "concurrency" else "sessions/s")
            + ")"
        )
        ax.set_ylabel("ms")
        ax.legend(loc="upper left", fontsize=8)

    return render_svg("sweep-latency", draw)


def goodput_chart(document: Mapping[str, Any]) -> str | None:
    steps = list(document.get("steps") or ())
    offered, achieved = _points(steps, "offered_rps", "achieved_rps")
    if not offered:
        return None

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        top = max(offered)
        ax.plot([0, top], [0, top], color="#999", linewidth=0.8, label="achieved = offered")
        ax.plot(offered, achieved, "o-", label="achieved")
        xs, ys = _points(steps, "offered_rps", "goodput_rps")
        if xs:
            ax.plot(xs, ys, "s-", label="goodput (meeting the SLO)")
        ax.set_xlabel("offered load (req/s)")
        ax.set_ylabel("req/s")
        ax.legend(loc="upper left", fontsize=8)

    return render_svg("sweep-goodput", draw)


def html(document: Mapping[str, Any]) -> str:
    """One self-contained page (inline CSS and SVG only)."""
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup

    charts = [
        ("Latency against offered load", latency_chart(document)),
        ("Goodput against offered load", goodput_chart(document)),
    ]
    environment = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=True)
    return environment.get_template("sweep.html.j2").render(
        document=document,
        answer=answer_lines(document),
        step_header=STEP_HEADER,
        steps=step_rows(document),
        frontier_header=FRONTIER_HEADER,
        frontier=frontier_rows(document),
        charts=[(title, None if svg is None else Markup(svg)) for title, svg in charts],
    )
