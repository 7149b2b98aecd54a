"""The short summary a run prints on stdout: a summary dict in, a few aligned lines out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _ms(stats: Any, key: str) -> str:
    if not isinstance(stats, Mapping) or stats.get(key) is None:
        return "-"
    return f"{stats[key]:.0f} ms"


def _usd(value: Any) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _cost_line(summary: Mapping[str, Any]) -> str:
    """Cost, per 1k requests and waste; an unknown figure says "unknown", never $0."""
    source = summary.get("cost_source", "-")
    if summary.get("cost_usd_total") is None:
        unpriced = summary.get("unpriced_models") or []
        why = f"no price for {', '.join(unpriced)}" if unpriced else "not computable"
        return f"unknown ({why}; {source})"
    return (
        f"{_usd(summary.get('cost_usd_total'))} total, "
        f"{_usd(summary.get('cost_per_1k_requests_usd'))} per 1k requests, "
        f"{_usd(summary.get('wasted_cost_usd'))} wasted ({source})"
    )


def render_summary(summary: Mapping[str, Any], report_path: str, target: str) -> str:
    rate = summary.get("error_rate")
    amplification = summary.get("retry_amplification")
    amp = (
        "n/a (no ledger)"
        if amplification is None
        else f"{amplification:.3f} ({summary.get('upstream_attempts')} upstream attempts / "
        f"{summary.get('requests_sent')} requests)"
    )
    valid = summary.get("valid")
    verdict = "valid" if valid else "NOT VALID: " + "; ".join(summary.get("validity_notes", []))
    if valid and summary.get("validity_notes"):
        verdict += " (" + "; ".join(summary["validity_notes"]) + ")"
    lines = [
        f"run {summary.get('run_id')} against {target}",
        f"  requests      planned {summary.get('requests_planned')}  sent "
        f"{summary.get('requests_sent')}  ok {summary.get('requests_ok')}  failed "
        f"{summary.get('requests_failed')}  error rate "
        f"{'-' if rate is None else f'{rate:.2%}'}",
        f"  TTFT          p50 {_ms(summary.get('ttft_ms'), 'p50'):>8}   p99 "
        f"{_ms(summary.get('ttft_ms'), 'p99'):>8}",
        f"  E2E           p50 {_ms(summary.get('e2e_ms'), 'p50'):>8}   p99 "
        f"{_ms(summary.get('e2e_ms'), 'p99'):>8}",
        f"  cost          {_cost_line(summary)}",
        f"  retry amp.    {amp}",
        f"  validity      {verdict}",
        *(f"  note          {note}" for note in summary.get("notes", [])),
        f"  report        {report_path}",
    ]
    return "\n".join(lines)
