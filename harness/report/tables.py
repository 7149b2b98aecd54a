"""Report tables: a summary dict in, rows of display strings out (shared by HTML and Markdown).

Everything reads the summary with ``.get`` so that a summary written by an older version, or
of a run where nothing happened, still renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.metrics.percentiles import QUANTILES
from harness.report import formatting as fmt

Row = tuple[str, ...]

LATENCY_METRICS: tuple[tuple[str, str], ...] = (
    ("ttft_ms", "TTFT"),
    ("ttft_corrected_ms", "TTFT (corrected)"),
    ("itl_ms", "ITL"),
    ("tpot_ms", "TPOT"),
    ("e2e_ms", "E2E"),
    ("e2e_corrected_ms", "E2E (corrected)"),
    ("latency_with_retries_ms", "latency incl. retries"),
    ("schedule_lag_ms", "schedule lag"),
    ("gateway_overhead_ms", "gateway overhead"),
)
LATENCY_HEADER: Row = ("metric", *(name for name, _ in QUANTILES), "max", "mean", "count")
GROUP_HEADER: Row = (
    "",
    "sent",
    "ok",
    "error rate",
    "TTFT p50",
    "TTFT p99",
    "E2E p99",
    "prompt tokens",
    "completion tokens",
    "cost",
)
#: The client's view: requests grouped by what the client asked for.
GROUPS: tuple[tuple[str, str], ...] = (
    ("by_requested_model", "requested model"),
    ("by_tenant", "tenant"),
    ("by_workload", "workload"),
    ("by_api", "wire API"),
)
#: The upstream's view: every attempt the upstream received, by the deployment that served it.
UPSTREAM_HEADER: Row = (
    "deployment",
    "models served",
    "attempts",
    "ok",
    "delivered",
    "outcomes",
    "prompt tokens",
    "completion tokens",
    "cost",
    "wasted",
)


def _stat(summary: Mapping[str, Any], metric: str, key: str) -> Any:
    stats = summary.get(metric)
    return stats.get(key) if isinstance(stats, Mapping) else None


def headline_rows(summary: Mapping[str, Any]) -> list[Row]:
    s = summary
    return [
        (
            "requests sent / planned",
            f"{fmt.count(s.get('requests_sent'))} / {fmt.count(s.get('requests_planned'))}",
        ),
        (
            "ok / failed",
            f"{fmt.count(s.get('requests_ok'))} / {fmt.count(s.get('requests_failed'))}",
        ),
        ("error rate", fmt.share(s.get("error_rate"))),
        (
            "achieved / target rate",
            f"{fmt.rate(s.get('achieved_rps'))} / {fmt.rate(s.get('target_rps'))}",
        ),
        ("TTFT p50", fmt.ms(_stat(s, "ttft_ms", "p50"))),
        ("TTFT p99", fmt.ms(_stat(s, "ttft_ms", "p99"))),
        ("E2E p50", fmt.ms(_stat(s, "e2e_ms", "p50"))),
        ("E2E p99", fmt.ms(_stat(s, "e2e_ms", "p99"))),
        (
            "goodput / SLO attainment",
            f"{fmt.rate(s.get('goodput_rps'))} / {fmt.share(s.get('slo_attainment'))}",
        ),
        ("retry amplification", fmt.ratio(s.get("retry_amplification"))),
        ("upstream ledger", ledger_line(s.get("ledger_source"))),
        (
            "cost total",
            f"{fmt.usd_or_unknown(s.get('cost_usd_total'))} ({fmt.text(s.get('cost_source'))})",
        ),
        ("cost per 1k requests", fmt.usd_or_unknown(s.get("cost_per_1k_requests_usd"))),
        ("wasted cost", fmt.usd_or_unknown(s.get("wasted_cost_usd"))),
        (
            "cache hit rate / tokens written to cache",
            f"{fmt.share(s.get('cache_hit_rate'))} / "
            f"{fmt.count(s.get('cache_write_tokens_total'))}",
        ),
        (
            "gateway cache hit rate (served before the upstream)",
            fmt.share(s.get("gateway_cache_hit_rate")),
        ),
        (
            "probe block rate / false-positive rate",
            f"{fmt.share(s.get('probe_block_rate'))} / "
            f"{fmt.share(s.get('probe_false_positive_rate'))}",
        ),
    ]


_ORIGINS = {
    "embedded": "the embedded mock",
    "target": "found at the target",
    "option": "given with --ledger",
}
_UPSTREAMS = {
    "mock": "written by a tokenstorm mock, the model: gateway overhead is measured against it",
    "proxy": "written by a fault proxy: gateway overhead cannot be told from it",
}


def ledger_line(source: Any) -> str:
    """Which ledger a run read, and whether gateway overhead could be measured against it."""
    if not isinstance(source, Mapping):
        return "none"
    origin = _ORIGINS.get(str(source.get("origin")), "origin not recorded")
    upstream = _UPSTREAMS.get(str(source.get("upstream")), "writer unknown")
    url = source.get("url")
    return f"{url} ({origin}; {upstream})" if url else f"{origin} ({upstream})"


def latency_rows(summary: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for metric, label in LATENCY_METRICS:
        stats = summary.get(metric)
        if not isinstance(stats, Mapping):
            rows.append((label, *([fmt.MISSING] * (len(LATENCY_HEADER) - 1))))
            continue
        figures = [fmt.ms(stats.get(name)) for name, _ in QUANTILES]
        rows.append(
            (
                label,
                *figures,
                fmt.ms(stats.get("max")),
                fmt.ms(stats.get("mean")),
                fmt.count(stats.get("count")),
            )
        )
    return rows


def count_rows(counts: Any) -> list[Row]:
    """Rows of an outcome -> count mapping, most frequent first."""
    if not isinstance(counts, Mapping):
        return []
    ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return [(str(name), fmt.count(number)) for name, number in ordered]


def group_rows(summary: Mapping[str, Any], key: str) -> list[Row]:
    groups = summary.get(key)
    if not isinstance(groups, Mapping):
        return []
    rows: list[Row] = []
    for name, group in groups.items():
        tokens = group.get("tokens") or {}
        rows.append(
            (
                str(name),
                fmt.count(group.get("requests_sent")),
                fmt.count(group.get("requests_ok")),
                fmt.share(group.get("error_rate")),
                fmt.ms(_stat(group, "ttft_ms", "p50")),
                fmt.ms(_stat(group, "ttft_ms", "p99")),
                fmt.ms(_stat(group, "e2e_ms", "p99")),
                fmt.count(tokens.get("prompt_tokens")),
                fmt.count(tokens.get("completion_tokens")),
                fmt.usd(group.get("cost_usd_total")),
            )
        )
    return rows


def _count_list(counts: Any) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return fmt.MISSING
    return ", ".join(f"{name} {fmt.count(number)}" for name, number in counts.items())


def upstream_rows(summary: Mapping[str, Any]) -> list[Row]:
    """``by_upstream_deployment``: one row per deployment the upstream's attempts went to."""
    groups = summary.get("by_upstream_deployment")
    if not isinstance(groups, Mapping):
        return []
    rows: list[Row] = []
    for name, group in groups.items():
        tokens = group.get("tokens") or {}
        rows.append(
            (
                str(name),
                _count_list(group.get("models")),
                fmt.count(group.get("attempts")),
                fmt.count(group.get("attempts_ok")),
                fmt.count(group.get("delivered")),
                _count_list(group.get("outcomes")),
                fmt.count(tokens.get("prompt_tokens")),
                fmt.count(tokens.get("completion_tokens")),
                fmt.usd(group.get("cost_usd_total")),
                fmt.usd(group.get("wasted_cost_usd")),
            )
        )
    return rows


def upstream_title(summary: Mapping[str, Any]) -> str:
    """Where the upstream table's attempts come from."""
    if summary.get("cost_source") == "ledger":
        return "by upstream deployment (every attempt the upstream received, from its ledger)"
    return (
        "by upstream deployment (no ledger: the client's attempts, by the deployment their "
        "answers named)"
    )


def price_rows(summary: Mapping[str, Any]) -> list[Row]:
    prices = summary.get("prices")
    used = prices.get("used") if isinstance(prices, Mapping) else None
    if not isinstance(used, Mapping):
        return []
    return [
        (
            str(entry.get("model")),
            str(entry.get("deployment")),
            fmt.text(entry.get("source")),
            fmt.usd(entry.get("input_usd_per_mtok")),
            fmt.usd(entry.get("output_usd_per_mtok")),
            fmt.usd(entry.get("cache_read_usd_per_mtok")),
        )
        for entry in used.values()
        if isinstance(entry, Mapping)
    ]


def snapshot_line(summary: Mapping[str, Any]) -> str:
    prices = summary.get("prices")
    info = prices.get("snapshot") if isinstance(prices, Mapping) else None
    if not isinstance(info, Mapping) or not info:
        return "price snapshot: unknown"
    return f"prices from {fmt.text(info.get('source'))}, dated {fmt.text(info.get('date'))}"


def verdict(summary: Mapping[str, Any]) -> str:
    if summary.get("valid") is True:
        return "VALID: the generator kept up, the figures describe the target"
    return "INVALID: the load generator was the bottleneck or nothing was measured"
