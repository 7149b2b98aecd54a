"""The report's tables of special traffic: a summary's ``gateway_cache`` and ``probes`` in;
titled tables (header and rows of display strings) out, none when the run had no such
traffic or the figures are unknown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report import formatting as fmt

Table = tuple[str, tuple[str, ...], list[tuple[str, ...]]]

_CACHE_HEADER = ("requests ok", "cache hits", "hit rate", "hit E2E p50", "miss E2E p50")
_PROBE_HEADER = (
    "category",
    "expected block",
    "blocked",
    "block rate",
    "look-alikes",
    "false positives",
    "FP rate",
    "added latency (95% interval)",
)


def _p50(stats: Any) -> str:
    return fmt.ms(stats.get("p50")) if isinstance(stats, Mapping) else fmt.ms(None)


def _cache_rows(groups: Any) -> list[tuple[str, ...]]:
    if not isinstance(groups, Mapping):
        return []
    return [
        (
            str(name),
            fmt.count(g.get("requests_ok")),
            fmt.count(g.get("hits")),
            fmt.share(g.get("hit_rate")),
            _p50(g.get("hit_e2e_ms")),
            _p50(g.get("miss_e2e_ms")),
        )
        for name, g in groups.items()
        if isinstance(g, Mapping)
    ]


def _added(value: Any) -> str:
    if not isinstance(value, Mapping):
        return fmt.ms(None)
    return (
        f"{fmt.ms(value.get('median'))} ({fmt.ms(value.get('low'))} to {fmt.ms(value.get('high'))})"
    )


def traffic_tables(summary: Mapping[str, Any]) -> list[Table]:
    """Gateway cache by repeat class and by planned similarity; probes by category."""
    tables: list[Table] = []
    cache = summary.get("gateway_cache")
    if isinstance(cache, Mapping):
        note = (
            f"latency saved {fmt.ms(cache.get('latency_saved_ms'))}, cost saved "
            f"{fmt.usd_or_unknown(cache.get('cost_saved_usd'))}, false hits "
            f"{fmt.count(cache.get('false_hits'))}"
        )
        tables.append(
            (
                f"gateway cache by repeat class ({note})",
                ("class", *_CACHE_HEADER),
                _cache_rows(cache.get("by_repeat_class")),
            )
        )
        by_similarity = _cache_rows(cache.get("by_similarity"))
        if by_similarity:
            tables.append(
                (
                    "gateway cache by planned similarity (paraphrases)",
                    ("similarity", *_CACHE_HEADER),
                    by_similarity,
                )
            )
    probes = summary.get("probes")
    if isinstance(probes, Mapping) and isinstance(probes.get("by_category"), Mapping):
        rows: list[tuple[str, ...]] = [
            (
                str(name),
                fmt.count(c.get("expected_block")),
                fmt.count(c.get("blocked")),
                fmt.share(c.get("block_rate")),
                fmt.count(c.get("lookalikes")),
                fmt.count(c.get("false_positives")),
                fmt.share(c.get("false_positive_rate")),
                _added(c.get("added_ms")),
            )
            for name, c in probes["by_category"].items()
            if isinstance(c, Mapping)
        ]
        tables.append(("guardrail probes by category", _PROBE_HEADER, rows))
    return tables
