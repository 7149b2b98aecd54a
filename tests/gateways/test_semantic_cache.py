"""``gateway_cache_hit_rate`` through a semantic cache in front of the mock: near-duplicates
planned by ``[workload.repeat]`` hit more often the more similar they are planned, hits leave
no ledger line, and no request planned below the cache's threshold is answered from it.

The cache is ``semantic_cache_proxy.py`` (test-only; LiteLLM's semantic caches need a Redis
Stack or Qdrant server, which do not install offline). Run with ``-s`` to print the curve.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.contract.records import AttemptRecord, LedgerEntry, read_jsonl
from tests.gateways.conftest import Service, Upstream, free_port

PROXY = Path(__file__).with_name("semantic_cache_proxy.py")
THRESHOLD = 0.85

SCENARIO = """name = "semantic-cache"
seed = 5
duration = "10s"
drain = "30s"
[target]
url = "{url}"
model = "mock-small"
timeout = "20s"
tag_prompt = true
cache_similarity_threshold = {threshold}
[client.retry]
attempts = 1
[arrival]
rate = "20/s"
[[workload]]
kind = "stream"
prompt_tokens = 40
max_tokens = 12
[workload.repeat]
share = 0.6
paraphrase_share = 0.85
similarity = {{ dist = "uniform", min = 0.5, max = 1.0 }}
popularity_zipf_s = 0.5
"""


@pytest.fixture(scope="module")
def cache(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("semantic-cache")
    port = free_port()
    service = Service(
        "semantic cache proxy",
        [
            sys.executable,
            str(PROXY),
            "--upstream",
            upstream.base_url,
            "--port",
            str(port),
            "--threshold",
            str(THRESHOLD),
        ],
        folder / "proxy.log",
    )
    service.wait_ready(f"http://127.0.0.1:{port}/health", 30.0)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        service.stop()


def test_hit_rate_rises_with_similarity(cache: str, upstream: Upstream, tmp_path: Path) -> None:
    scenario = tmp_path / "semantic-cache.toml"
    scenario.write_text(SCENARIO.format(url=cache, threshold=THRESHOLD))
    args = ["run", str(scenario), "--ledger", upstream.ledger_url, "--out", str(tmp_path)]
    assert main([*args, "--run-id", "cache", "--no-progress"]) == 0
    run = tmp_path / "cache"
    summary = json.loads((run / "summary.json").read_text())
    figures = summary["gateway_cache"]
    print("\nsimilarity bucket   requests  hits  hit rate")
    for name, group in figures["by_similarity"].items():
        print(f"{name:<18} {group['requests_ok']:>9} {group['hits']:>5} {group['hit_rate']:>9.2f}")
    for name, group in figures["by_repeat_class"].items():
        rate = "-" if group["hit_rate"] is None else f"{group['hit_rate']:.2f}"
        print(f"{name:<18} {group['requests_ok']:>9} {group['hits']:>5} {rate:>9}")
    print(f"latency saved {figures['latency_saved_ms']:.1f} ms, false hits {figures['false_hits']}")

    # Hits are the requests answered without a chat line in the ledger.
    records = list(read_jsonl(run / "records.jsonl", AttemptRecord))
    ledger = list(read_jsonl(run / "ledger.jsonl", LedgerEntry))
    chat_ids = {e.request_id for e in ledger if e.api == "openai-chat" and e.request_id}
    ok = {r.request_id for r in records if r.outcome == "ok"}
    assert figures["hits"] == len(ok - chat_ids) > 0
    assert summary["gateway_cache_hit_rate"] == pytest.approx(figures["hits"] / len(ok))

    by_class = figures["by_repeat_class"]
    assert by_class["original"]["hits"] == 0  # distinct topics never match
    assert by_class["exact"]["hit_rate"] > 0.8
    assert figures["false_hits"] == 0
    below = [g for name, g in figures["by_similarity"].items() if float(name[1:5]) < THRESHOLD]
    above = [g for name, g in figures["by_similarity"].items() if float(name[1:5]) >= THRESHOLD]
    assert below and above
    assert all(g["hits"] == 0 for g in below)
    assert all(g["hit_rate"] > 0.7 for g in above)
    assert figures["latency_saved_ms"] > 0
