"""The report's gateway cache and probe tables: shown when the summary has them, else none."""

from __future__ import annotations

from harness.report.traffic_tables import traffic_tables


def test_tables_follow_the_summary() -> None:
    assert traffic_tables({"gateway_cache": None, "probes": None}) == []
    group = {"requests_ok": 4, "hits": 3, "hit_rate": 0.75, "hit_e2e_ms": {"p50": 2.0}}
    summary = {
        "gateway_cache": {
            "by_repeat_class": {"exact": group},
            "by_similarity": {"[0.90, 0.95)": group},
            "latency_saved_ms": 120.0,
            "cost_saved_usd": None,
            "false_hits": 0,
        },
        "probes": {
            "by_category": {
                "pii": {
                    "expected_block": 4,
                    "blocked": 2,
                    "block_rate": 0.5,
                    "added_ms": {"median": 1.0, "low": -2.0, "high": 3.0},
                }
            }
        },
    }
    tables = traffic_tables(summary)
    titles = [title for title, _, _ in tables]
    assert titles[0].startswith("gateway cache by repeat class (latency saved 120 ms")
    assert "unknown" in titles[0]  # cost saved not known: never a 0
    assert tables[0][2] == [("exact", "4", "3", "75.00%", "2.0 ms", "—")]
    assert tables[2][2][0][3] == "50.00%" and tables[2][2][0][7] == "1.0 ms (-2.0 ms to 3.0 ms)"
