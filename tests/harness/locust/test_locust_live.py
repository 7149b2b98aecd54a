"""``--engine locust`` with embeddings, ``--watch`` and ``--metrics-port``, end to end on one
local worker against the embedded mock: a plan of rag turns with ``embed_query`` and ``embed``
batches gives the asyncio engine's records (attempts, outcomes, APIs, prompt sizes); the
mock's memory lands in watch.jsonl and ``summary.json`` has its ``watch`` section; the live
figures the master serves count exactly the records written when they are scraped."""

from __future__ import annotations

import socket
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.contract.apis import OPENAI_CHAT, OPENAI_EMBEDDINGS
from harness.contract.records import AttemptRecord, read_jsonl
from harness.engine_config import LiveStats
from harness.locust.run import LocustOptions
from harness.runner import RunResult, execute
from harness.watch.scrape import WatchSettings, read_watch
from workloads.scenario import parse_scenario

DURATION_S = 3.0
SCENARIO = {
    "name": "live",
    "seed": 4,
    "duration": f"{DURATION_S}s",
    "drain": "5s",
    "arrival": {"rate": "8/s"},
    "target": {"tag_prompt": True},
    "workload": [
        {
            "kind": "rag",
            "documents_per_request": 2,
            "document_tokens": 50,
            "question_tokens": 12,
            "turns": 2,
            "think_time": "10ms",
            "max_tokens": 4,
            "embed_query": True,
        },
        {"kind": "embed", "share": 0.5, "documents": 40, "batch_size": 5, "document_tokens": 30},
    ],
    "mock": {
        "deployments": [
            {
                "name": "one",
                "model": "mock-small",
                "ttft_ms": 2,
                "itl_ms": 1,
                "output_tokens": 4,
                "output_tokens_sigma": 0,
                "jitter": 0,
            }
        ]
    },
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class _Scraper:
    """An abort check that never aborts: each time the master asks (once a second), it
    scrapes the live figures and notes how many records the run had written by then."""

    url: str
    records: int = 0
    scrapes: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        with urllib.request.urlopen(self.url, timeout=5.0) as answer:
            text = answer.read().decode()
        figures: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                figures[sample.name + str(sorted(sample.labels.items()))] = sample.value
        self.scrapes.append((self.records, figures))
        return None

    def observe(self, record: AttemptRecord) -> None:
        self.records += 1


@dataclass(frozen=True)
class _Runs:
    asyncio: RunResult
    locust: RunResult
    scraper: _Scraper


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> _Runs:
    out = tmp_path_factory.mktemp("live")
    scenario = parse_scenario(SCENARIO, "live")
    quiet: dict[str, Any] = {"progress": False, "reports": False}
    asyncio_run = execute(scenario, out, "asyncio", **quiet)
    scraper = _Scraper(f"http://127.0.0.1:{(port := _free_port())}/metrics")
    locust_run = execute(
        scenario,
        out,
        "locust",
        **quiet,
        abort_check=scraper,
        locust=LocustOptions(workers=1),
        watch=WatchSettings(urls=("mock",), every_s=0.5, timeout_s=0.5),
        metrics_at=("127.0.0.1", port),
    )
    return _Runs(asyncio_run, locust_run, scraper)


def _records(result: RunResult) -> dict[tuple[str, int], AttemptRecord]:
    return {(r.request_id, r.attempt): r for r in read_jsonl(result.paths.records, AttemptRecord)}


def _what(record: AttemptRecord) -> tuple[object, ...]:
    return (record.api, record.outcome, record.planned_prompt_tokens, record.prompt_tokens)


@pytest.mark.slow
def test_embeddings_on_locust_give_the_asyncio_engine_s_records(runs: _Runs) -> None:
    a, b = _records(runs.asyncio), _records(runs.locust)
    assert sorted(a) == sorted(b)
    assert {key: _what(r) for key, r in a.items()} == {key: _what(r) for key, r in b.items()}
    by_api = Counter((r.api, r.outcome) for r in b.values())
    assert by_api[OPENAI_EMBEDDINGS, "ok"] > 0 and by_api[OPENAI_CHAT, "ok"] > 0
    assert set(by_api) == {(OPENAI_EMBEDDINGS, "ok"), (OPENAI_CHAT, "ok")}
    summary = runs.locust.summary
    assert summary["by_api"][OPENAI_EMBEDDINGS]["requests_ok"] == by_api[OPENAI_EMBEDDINGS, "ok"]


@pytest.mark.slow
def test_watch_on_locust_scrapes_the_mock_through_the_run(runs: _Runs) -> None:
    lines = list(read_watch(runs.locust.paths.root / "watch.jsonl"))
    memory = [line for line in lines if line.get("name") == "process_resident_memory_bytes"]
    times_s = [line["t_s"] for line in memory]
    assert not any("error" in line for line in lines)
    assert len(memory) >= 6 and all(line["value"] > 1e6 for line in memory)
    assert times_s == sorted(times_s) and 0.0 <= times_s[0] < 0.5  # from the run clock's start
    assert times_s[-1] >= DURATION_S  # through the run, and once after it
    (entry,) = runs.locust.summary["watch"]["urls"].values()
    assert entry["scrapes"] == len(memory) and entry["failed_scrapes"] == 0
    assert entry["leak"]["process_resident_memory_bytes"]["points"] == len(memory)


@pytest.mark.slow
def test_live_figures_on_locust_count_the_records_written(runs: _Runs) -> None:
    scrapes = runs.scraper.scrapes
    assert len(scrapes) >= 2
    attempts = []
    for written, figures in scrapes:
        counted = sum(v for k, v in figures.items() if k.startswith("tokenstorm_attempts_total"))
        assert counted == written  # each record counted as the master writes it
        assert figures["tokenstorm_ttft_seconds_count[]"] <= counted
        assert 0 <= figures["tokenstorm_in_flight[]"] <= len(_records(runs.asyncio))
        assert figures["tokenstorm_run_clock_seconds[]"] > 0
        attempts.append(counted)
    assert attempts == sorted(attempts) and 0 < attempts[-1]
    assert runs.scraper.records == len(_records(runs.locust))
