"""Comparison outputs: a ``Comparison`` in, ``comparison.md`` and a self-contained
``comparison.html`` (inline CSS, no script, opens offline) out, as strings."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined

from harness.compare.table import (
    ALPHA,
    CONFIDENCE,
    RECOVERY_KEY,
    RESAMPLES,
    Comparison,
    Difference,
)
from harness.report.markdown import markdown_table

#: How the intervals are made, said under every comparison.
METHOD = (
    "intervals are circular block bootstrap percentile intervals over each run's samples in "
    "time order; blocks gives each run's block length, chosen from its autocorrelation "
    "(1: samples are resampled one by one)"
)


def value_text(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if unit == "usd":
        return f"${value:.4f}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "rps":
        return f"{value:.2f}/s"
    if unit == "s":
        return f"{value:.1f} s"
    return f"{value:.3f}"


def _signed(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value * 100:+.2f} pp"
    text = value_text(abs(value), unit)
    return ("-" if value < 0 else "+") + text


def difference_cells(d: Difference) -> tuple[str, ...]:
    relative = "-" if d.relative is None else f"{d.relative:+.1%}"
    interval = (
        "-"
        if d.ci_low is None or d.ci_high is None
        else f"[{_signed(d.ci_low, d.unit)}, {_signed(d.ci_high, d.unit)}]"
    )
    p_value = (
        "-"
        if d.p_value is None
        else f"< {1 / RESAMPLES:g}"
        if d.p_value == 0
        else f"{d.p_value:.3g}"
    )
    rank = "-" if d.rank_p_value is None else f"{d.rank_p_value:.3g}"
    blocks = "-" if d.blocks is None else f"{d.blocks[0]} / {d.blocks[1]}"
    verdict = {None: "no test", True: "yes", False: "no"}[d.significant]
    return (
        d.label,
        value_text(d.reference, d.unit),
        value_text(d.other, d.unit),
        _signed(d.difference, d.unit),
        relative,
        interval,
        blocks,
        p_value,
        rank,
        verdict,
    )


DIFF_HEADER = (
    "figure",
    "reference",
    "this run",
    "difference",
    "relative",
    f"{CONFIDENCE:.0%} CI",
    "blocks (ref / run)",
    "bootstrap p",
    "Mann-Whitney p",
    "significant",
)


def _recovery_clauses(differences: tuple[Difference, ...]) -> list[str]:
    """Changed times to recover (one figure per run: no test, so said apart from the rest)."""
    clauses = []
    for d in differences:
        if not d.key.startswith(RECOVERY_KEY):
            continue
        after = d.label.removeprefix("time to recover ")
        if d.difference:
            clauses.append(f"{_signed(d.difference, d.unit)} {after}")
        elif d.other is None and d.reference is not None:
            clauses.append(f"did not recover {after}")
        elif d.reference is None and d.other is not None:
            clauses.append(f"recovered {value_text(d.other, d.unit)} {after} (reference did not)")
    return clauses


def headline(run: str, reference: str, differences: tuple[Difference, ...]) -> str:
    real = [
        f"{d.label} {_signed(d.difference, d.unit)}"
        + (f" ({d.relative:+.1%})" if d.relative is not None else "")
        for d in differences
        if d.significant
    ]
    noise = [d.label for d in differences if d.significant is False]
    text = f"{run} vs {reference}: "
    text += ("significant: " + ", ".join(real)) if real else "no significant difference"
    if noise:
        text += "; within noise: " + ", ".join(noise)
    recovery = _recovery_clauses(differences)
    if recovery:
        text += "; recovery: " + ", ".join(recovery)
    return text


def _context(comparison: Comparison, notes: list[str]) -> dict[str, Any]:
    reference = comparison.runs[0]
    side = [
        (f.label, *(value_text(v, f.unit) for v in comparison.values[f.key]))
        for f in comparison.figures
    ]
    return {
        "runs": comparison.runs,
        "reference": reference,
        "side": side,
        "notes": notes,
        "alpha": ALPHA,
        "method": METHOD,
        "diff_header": DIFF_HEADER,
        "pairs": [
            (run, headline(run, reference, diffs), [difference_cells(d) for d in diffs])
            for run, diffs in comparison.differences.items()
        ],
    }


def _md(text: str) -> str:
    # GitHub renders inline HTML in job summaries: run ids and notes must stay text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(comparison: Comparison, notes: list[str]) -> str:
    c = _context(comparison, notes)
    lines = [f"## tokenstorm comparison (reference {_md(c['reference'])})", ""]
    lines.extend(f"- {_md(note)}" for note in notes)
    lines.extend(f"- **{_md(text)}**" for _, text, _ in c["pairs"])
    lines.append("")
    lines.extend(markdown_table(("figure", *c["runs"]), c["side"]))
    for run, _, rows in c["pairs"]:
        lines += ["", f"### {_md(run)} minus {_md(c['reference'])}", ""]
        lines.extend(markdown_table(DIFF_HEADER, rows))
    lines += [
        "",
        f"_Significant: two-sided bootstrap p < {ALPHA:g} on per-request or "
        f"per-attempt samples; {METHOD}._",
    ]
    return "\n".join(lines) + "\n"


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tokenstorm comparison</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #222; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; }
.yes { color: #c62828; font-weight: 700; }
.headline { font-weight: 600; }
.muted { color: #666; }
</style></head><body>
<h1>tokenstorm comparison</h1>
<p class="muted">reference run: {{ reference }}</p>
{% for note in notes %}<p class="muted">{{ note }}</p>{% endfor %}
{% for run, text, rows in pairs %}<p class="headline">{{ text }}</p>{% endfor %}
<h2>Side by side</h2>
<table><tr><th>figure</th>{% for run in runs %}<th>{{ run }}</th>{% endfor %}</tr>
{% for row in side %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% for run, text, rows in pairs %}
<h2>{{ run }} minus {{ reference }}</h2>
<table><tr>{% for cell in diff_header %}<th>{{ cell }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}
<td{% if loop.last and cell == 'yes' %} class="yes"{% endif %}>{{ cell }}</td>
{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}
<p class="muted">Significant: two-sided bootstrap p &lt; {{ alpha }} on per-request or
per-attempt samples; {{ method }}.</p>
</body></html>
"""


def render_html(comparison: Comparison, notes: list[str]) -> str:
    environment = Environment(autoescape=True, undefined=StrictUndefined)
    return environment.from_string(_HTML).render(**_context(comparison, notes))
