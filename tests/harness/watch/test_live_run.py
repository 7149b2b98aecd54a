"""A short run against the embedded mock with ``--metrics-port`` and ``--watch mock``: the
live figures scraped during the run parse (prometheus-client's parser) and grow; the mock's
memory lands in watch.jsonl and a leak verdict (unknown: too short) in summary.json."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.contract.records import AttemptRecord
from harness.engine_config import LiveStats
from harness.runner import execute
from harness.watch.scrape import WatchSettings, read_watch
from workloads.scenario import parse_scenario


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Scraper:
    """An abort check that never aborts: once a second it scrapes the live figures."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.scrapes: list[dict[str, Any]] = []

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        with urllib.request.urlopen(self.url, timeout=5.0) as answer:
            text = answer.read().decode()
        figures: dict[str, Any] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                figures[sample.name + str(sorted(sample.labels.items()))] = sample.value
        self.scrapes.append(figures)
        return None

    def observe(self, record: AttemptRecord) -> None:
        return None


def test_live_figures_and_the_mock_s_memory_are_scraped_during_a_run(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            "name": "live",
            "seed": 4,
            "duration": "3.5s",
            "drain": "3s",
            "arrival": {"process": "constant", "rate": "20/s"},
            "workload": [{"kind": "stream", "prompt_tokens": 20, "max_tokens": 4}],
            "target": {"model": "mock-small"},
        },
        "live",
    )
    port = _free_port()
    scraper = _Scraper(port)
    result = execute(
        scenario,
        tmp_path,
        "live",
        progress=False,
        reports=False,
        abort_check=scraper,
        watch=WatchSettings(urls=("mock",), every_s=0.5, timeout_s=0.5),
        metrics_at=("127.0.0.1", port),
    )
    assert len(scraper.scrapes) >= 2
    last = scraper.scrapes[-1]
    ok = last["tokenstorm_attempts_total[('outcome', 'ok')]"]
    assert 0 < ok <= 70
    assert last["tokenstorm_ttft_seconds_count[]"] == ok
    assert last["tokenstorm_cost_usd_total[]"] > 0
    assert "tokenstorm_in_flight[]" in last
    assert "tokenstorm_schedule_lag_seconds_bucket[('le', '+Inf')]" in last
    sent = [s["tokenstorm_attempts_total[('outcome', 'ok')]"] for s in scraper.scrapes if s]
    assert sent == sorted(sent)
    lines = list(read_watch(result.paths.root / "watch.jsonl"))
    memory = [line for line in lines if line.get("name") == "process_resident_memory_bytes"]
    assert len(memory) >= 5
    assert all(line["value"] > 1e6 for line in memory)
    (entry,) = result.summary["watch"]["urls"].values()
    verdict = entry["leak"]["process_resident_memory_bytes"]
    assert verdict["verdict"] == "unknown"
    assert verdict["points"] == len(memory)
