"""Report content: summary, records and manifest in, one plain dict for both renderers out.

Charts are drawn here (they are the expensive part) so that the HTML template only places
ready strings; the Markdown report uses the tables and leaves the charts out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.contract.records import AttemptRecord
from harness.report import charts, tables
from harness.report import formatting as fmt
from harness.report.soak import soak_chart, soak_context
from harness.report.traffic_tables import traffic_tables
from harness.report.windows import WINDOW_HEADER, spans, window_rows


def run_header(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, str]:
    scenario = manifest.get("scenario")
    name = scenario.get("name") if isinstance(scenario, Mapping) else None
    target = manifest.get("target_url") or "embedded mock server"
    return {
        "run_id": fmt.text(manifest.get("run_id") or summary.get("run_id")),
        "scenario_name": fmt.text(name),
        "target": fmt.text(target),
        "started_at": fmt.text(manifest.get("started_at")),
        "version": fmt.text(manifest.get("tokenstorm_version")),
    }


def engine_notes(manifest: Mapping[str, Any]) -> list[str]:
    """What the report says of a run sent on Locust workers (``--engine locust``)."""
    locust = manifest.get("locust")
    if manifest.get("engine") != "locust" or not isinstance(locust, Mapping):
        return []
    workers = locust.get("workers") or []
    hosts = sorted({str(w.get("host")) for w in workers})
    lags = ", ".join(
        f"worker {w.get('index')} p99 {lag['p99']:.1f} ms"
        for w in workers
        if isinstance(lag := w.get("schedule_lag_ms"), Mapping)
    )
    return [
        f"sent by the Locust engine on {len(workers)} workers ({', '.join(hosts)}); "
        f"schedule lag {lags or 'not measured'}; {locust.get('figures')}"
    ]


def table_context(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Everything but the charts."""
    return {
        "run": run_header(summary, manifest),
        "valid": summary.get("valid") is True,
        "verdict": tables.verdict(summary),
        "validity_notes": [str(n) for n in summary.get("validity_notes") or ()]
        + ([str(manifest["invalid_reason"])] if manifest.get("invalid_reason") else []),
        "notes": [str(n) for n in summary.get("notes") or ()] + engine_notes(manifest),
        "headline": tables.headline_rows(summary),
        "latency_header": tables.LATENCY_HEADER,
        "latency": tables.latency_rows(summary),
        "outcome_tables": [
            ("requests (final outcome)", tables.count_rows(summary.get("outcomes"))),
            ("attempts", tables.count_rows(summary.get("attempt_outcomes"))),
        ],
        "group_header": tables.GROUP_HEADER,
        "group_tables": [(title, tables.group_rows(summary, key)) for key, title in tables.GROUPS],
        "traffic_tables": traffic_tables(summary),
        "upstream_title": tables.upstream_title(summary),
        "upstream_header": tables.UPSTREAM_HEADER,
        "upstream": tables.upstream_rows(summary),
        "prices": tables.price_rows(summary),
        "window_header": WINDOW_HEADER,
        "windows": window_rows(summary),
        "snapshot": tables.snapshot_line(summary),
        **soak_context(summary),
    }


def chart_context(summary: Mapping[str, Any], records: Sequence[AttemptRecord]) -> dict[str, Any]:
    limits = summary.get("validity_limits")
    lag = limits.get("max_schedule_lag_p99_ms") if isinstance(limits, Mapping) else None
    limit_ms = float(lag) if isinstance(lag, int | float) else None
    shaded = spans(summary)
    return {
        "soak_chart": soak_chart(summary),
        "charts_time": [
            {"title": "TTFT and E2E over time", "svg": charts.latency_over_time(records, shaded)},
            {"title": "Outcomes over time", "svg": charts.outcomes_over_time(records, shaded)},
            {
                "title": "Schedule lag over time",
                "svg": charts.schedule_lag_over_time(records, limit_ms, shaded),
            },
        ],
        "charts_dist": [
            {"title": "TTFT and E2E distribution", "svg": charts.latency_cdf(records)},
            {"title": "ITL distribution", "svg": charts.itl_histogram(records)},
        ],
    }
