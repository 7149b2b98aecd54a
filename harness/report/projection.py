"""Cost at scale in reports: a ``projection.json`` document in, its tables (headline, the
cache-hit by retry-waste sensitivity, API against self-hosted) as rows of strings out, for
the HTML report, ``report.md``, ``projection.md`` and the console."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.report import formatting as fmt

_FIGURES = (
    ("total", "cost of the volume"),
    ("daily", "daily cost"),
    ("monthly", "monthly cost"),
    ("per_user_day", "cost per user per day"),
    ("per_user_month", "monthly cost per daily user"),
)


def _with_interval(figure: Mapping[str, Any] | None) -> str:
    if not isinstance(figure, Mapping):
        return fmt.MISSING
    text = fmt.usd(figure.get("usd"))
    low, high = figure.get("low_usd"), figure.get("high_usd")
    if isinstance(low, int | float) and isinstance(high, int | float):
        text += f" ({fmt.usd(low)} to {fmt.usd(high)})"
    return text


def headline_rows(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    run = document.get("run") or {}
    volume = document.get("volume") or {}
    per_1k = {
        key: value * 1000 if isinstance(value, int | float) else None
        for key, value in (
            ("usd", run.get("cost_per_request_usd")),
            ("low_usd", run.get("cost_per_request_low_usd")),
            ("high_usd", run.get("cost_per_request_high_usd")),
        )
    }
    rows = [
        ("volume", str(volume.get("label", fmt.MISSING))),
        (
            "requests priced",
            f"{volume.get('requests', 0):,.0f}" + ("/day" if volume.get("per_day") else ""),
        ),
        ("cost per 1k requests (this run)", _with_interval(per_1k)),
        ("cache hit rate (this run)", fmt.share(run.get("cache_hit_rate"))),
        ("retry waste (this run)", fmt.share(run.get("retry_waste"))),
    ]
    figures = document.get("figures") or {}
    rows.extend(
        (label, _with_interval(figures.get(key))) for key, label in _FIGURES if key in figures
    )
    return rows


def sensitivity_table(document: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: cache hit rate down, retry waste across; the run's own marked ``*``."""
    table = document.get("sensitivity")
    if not isinstance(table, Mapping):
        return [], []
    own_h, own_w = table.get("run_cache_hit_rate"), table.get("run_retry_waste")
    header = [f"{table.get('figure', '')} cost by hit rate / retry waste"] + [
        fmt.share(w) + (" *" if w == own_w else "") for w in table.get("retry_waste", ())
    ]
    rows = [
        [fmt.share(h) + (" *" if h == own_h else "")] + [fmt.usd(v) for v in values]
        for h, values in zip(table.get("cache_hit_rates", ()), table.get("usd", ()), strict=False)
    ]
    return header, rows


def _replicas(count: Any) -> str:
    return f"{count} replica" + ("" if count == 1 else "s")


def self_hosted_rows(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    hosted = document.get("self_hosted")
    if not isinstance(hosted, Mapping):
        return []
    even = hosted.get("break_even_requests_per_day")
    return [
        ("replica", str(hosted.get("source"))),
        ("replica throughput", fmt.rate(hosted.get("replica_rps"))),
        (
            "replica cost",
            f"{fmt.usd(hosted.get('replica_usd_per_hour'))}/h "
            f"({hosted.get('gpus_per_replica')} GPU x {fmt.usd(hosted.get('gpu_usd_per_hour'))}/h)",
        ),
        ("API, per day", fmt.usd(hosted.get("api_daily_usd"))),
        (
            "self-hosted, per day",
            f"{fmt.usd(hosted.get('self_hosted_daily_usd'))} ({_replicas(hosted.get('replicas'))}, "
            f"{fmt.share(hosted.get('utilisation'))} used)",
        ),
        (
            "break-even volume",
            "none: a fully used replica costs more per request than the API"
            if even is None
            else f"{even:,.0f} requests/day ({fmt.rate(hosted.get('break_even_rps'))})",
        ),
    ]


def projection_lines(document: Mapping[str, Any], table: Any) -> list[str]:
    """The projection as text lines, tables drawn by ``table(header, rows)``."""
    lines = ["### Cost at scale", ""]
    lines.extend(table(("figure", "value"), headline_rows(document)))
    header, rows = sensitivity_table(document)
    if rows:
        lines.extend(["", "Sensitivity (* the run's own):", ""])
        lines.extend(table(header, rows))
    hosted = self_hosted_rows(document)
    if hosted:
        lines.extend(["", "API against a self-hosted replica:", ""])
        lines.extend(table(("", "value"), hosted))
    interval = document.get("interval") or {}
    lines.extend(
        ["", f"_intervals: {interval.get('confidence', 0):.0%}, {interval.get('method')}_"]
    )
    lines.extend(f"- note: {note}" for note in document.get("notes") or ())
    return lines


def load_projection(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) and "figures" in document else None


def projection_context(path: Path) -> dict[str, Any]:
    """``projection`` for the HTML template (None when the run has no projection.json)."""
    document = load_projection(path)
    if document is None:
        return {"projection": None, "projection_document": None}
    header, rows = sensitivity_table(document)
    return {
        "projection": {
            "headline": headline_rows(document),
            "sensitivity_header": header,
            "sensitivity": rows,
            "self_hosted": self_hosted_rows(document),
            "notes": [str(n) for n in document.get("notes") or ()],
            "interval": document.get("interval") or {},
        },
        "projection_document": document,
    }


def plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns for the console."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
