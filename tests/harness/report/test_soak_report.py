"""The soak section of the reports: a summary's ``soak`` (and ``watch``) in; the verdict line a
person reads first, the tables, the timeline chart and the leak line checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.report import write_reports
from harness.report.soak import duration, soak_chart, soak_context
from harness.stats.soak import soak_of_records
from tests.harness.stats.soak_records import attempt, mock_run


@pytest.fixture(scope="module")
def degrading() -> dict[str, Any]:
    return soak_of_records(mock_run(0.01, minutes=45.0), 2700.0, None)


def test_a_degrading_run_says_so_and_since_when(degrading: dict[str, Any]) -> None:
    soak = soak_context({"soak": degrading})["soak"]
    assert soak["tone"] == "bad"
    assert soak["headline"].startswith(f"Soak: degrading since {duration(degrading['since_s'])}")
    assert "E2E p99 +" in soak["headline"] and "TTFT" not in soak["headline"]
    assert [row[0] for row in soak["trends"]] == ["TTFT p99", "E2E p99", "error rate"]
    e2e = soak["trends"][1]
    assert e2e[3] == "rising" and e2e[1].endswith(" ms")
    assert [row[0] for row in soak["first_last"]][:2] == ["TTFT p99", "E2E p99"]
    assert soak["bursts"].startswith("No periodic error bursts")
    assert soak["leak"] is None


def test_a_stable_run_and_a_short_one_read_at_a_glance() -> None:
    stable = soak_of_records(mock_run(0.0, minutes=40.0), 2400.0, None)
    context = soak_context({"soak": stable})["soak"]
    assert (context["tone"], context["headline"]) == (
        "good",
        "Soak: stable over 40 min (no rising trend)",
    )
    short = soak_of_records((attempt(float(i)) for i in range(600)), 600.0, None)
    context = soak_context({"soak": short})["soak"]
    assert context["tone"] == "muted"
    assert context["headline"].startswith("Soak: too short for a trend verdict")
    assert context["trends"] == [] and context["first_last"] == []
    demo = soak_of_records([attempt(1.0)], 30.0, None)
    assert soak_context({"soak": demo}) == {"soak": None}  # a 30 s run shows no soak section


def test_the_leak_line_shows_the_fastest_growing_watched_series() -> None:
    def verdict(rate: float | None, verdict: str) -> dict[str, Any]:
        interval = None if rate is None else [rate - 1.5e6, rate + 1.5e6]
        return {"verdict": verdict, "bytes_per_hour": rate, "ci95_bytes_per_hour": interval}

    watch = {
        "file": "watch.jsonl",
        "urls": {
            "http://127.0.0.1:1/metrics": {
                "leak": {
                    "process_resident_memory_bytes": verdict(2.5e6, "growing"),
                    'process_resident_memory_bytes{pid="2"}': verdict(None, "unknown"),
                }
            },
            "http://127.0.0.1:2/metrics": {
                "leak": {"process_resident_memory_bytes": verdict(-0.5e6, "stable")}
            },
        },
    }
    summary = {
        "soak": soak_of_records((attempt(float(i)) for i in range(600)), 600.0, None),
        "watch": watch,
    }
    leak = soak_context(summary)["soak"]["leak"]
    assert leak == (
        "SUT resident memory: +2.5 MB/h (95 %: +1.0 to +4.0 MB/h), growing; "
        "fastest of 2 watched series"
    )


def test_durations_read_in_minutes_then_hours() -> None:
    assert [duration(s) for s in (None, 420.0, 3600.0, 5400.0)] == [
        "—",
        "7 min",
        "1 h",
        "1 h 30 min",
    ]


def test_reports_carry_the_soak_section(tmp_path: Path, degrading: dict[str, Any]) -> None:
    summary = {"run_id": "soak", "soak": degrading}
    html_path, md_path = write_reports(tmp_path, summary, [], {})
    html = html_path.read_text(encoding="utf-8")
    assert '<h2>Soak</h2>\n<p class="soak bad">Soak: degrading since' in html
    assert html.index("<h2>Soak</h2>") < html.index("<h2>Headline</h2>")
    assert 'id="soak-windows-' in html  # the timeline chart, inline
    markdown = md_path.read_text(encoding="utf-8")
    assert "### Soak\n\n**Soak: degrading since" in markdown
    assert "| E2E p99 |" in markdown and "First against last" in markdown


def test_no_chart_without_enough_windows() -> None:
    assert soak_chart({}) is None
    assert soak_chart({"soak": soak_of_records([attempt(1.0)], 30.0, None)}) is None
