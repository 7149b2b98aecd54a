"""Anthropic prompt caching end to end: the same seeded agent workload run with the client's
``cache_control`` off and on against the embedded mock; on, the cache writes and reads show in
records, ledger and summary, and the run costs less when priced as a real Claude model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.contract.records import AttemptRecord, LedgerEntry, read_jsonl


def _scenario(cache_control: str) -> str:
    return f"""
name = "cache-{cache_control}"
seed = 3
duration = "2s"
drain = "10s"
arrival = {{ process = "constant", rate = "3/s" }}

[target]
api = "anthropic-messages"
cache_control = "{cache_control}"

[[workload]]
kind = "agent_loop"
system_prompt_tokens = 1500
task_tokens = 100
turns = 4
tool_output_tokens = 200
tool_latency = "10ms"
max_tokens = 8

[[mock.deployments]]
name = "claude-ish"
model = "mock-small"
output_tokens = 8
output_tokens_sigma = 0
jitter = 0

[mock.deployments.engine]
step_base_ms = 0.5
prefill_ms_per_token = 0.001
decode_ms_per_seq = 0.0
prefix_cache_blocks = 500

[prices]
"mock-small" = {{ price_as = "claude-sonnet-4-5" }}
"""


def _run(tmp_path: Path, cache_control: str) -> Path:
    scenario = tmp_path / f"{cache_control}.toml"
    scenario.write_text(_scenario(cache_control))
    code = main(
        ["run", str(scenario), "--out", str(tmp_path), "--run-id", cache_control, "--no-progress"]
    )
    assert code == 0
    return tmp_path / cache_control


def _summary(run: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((run / "summary.json").read_text())
    return document


@pytest.mark.slow
def test_cache_control_writes_then_reads_and_costs_less(tmp_path: Path) -> None:
    off, on = _run(tmp_path, "off"), _run(tmp_path, "conversation")
    off_summary, on_summary = _summary(off), _summary(on)
    assert off_summary["requests_ok"] == off_summary["requests_planned"] == 24
    assert on_summary["requests_ok"] == 24
    assert off_summary["cached_tokens_total"] == off_summary["cache_write_tokens_total"] == 0

    records = list(read_jsonl(on / "records.jsonl", AttemptRecord))
    ledger = {(e.request_id, e.attempt): e for e in read_jsonl(on / "ledger.jsonl", LedgerEntry)}
    for record in records:
        entry = ledger[(record.request_id, record.attempt)]
        assert (record.cached_tokens, record.cache_write_tokens) == (
            entry.cached_tokens,
            entry.cache_write_tokens,
        )
        assert record.prompt_tokens == entry.prompt_tokens
        if record.turn > 1:
            # The previous turn wrote up to its last message; this turn reads that much and
            # writes the answer and the tool output after it.
            assert record.cached_tokens is not None and record.cached_tokens >= 1500
            assert record.cache_write_tokens == record.prompt_tokens - record.cached_tokens
    first_turns = [r for r in records if r.turn == 1]
    # Eight sessions share one system prompt: the first writes it, the rest read it.
    assert sum(1 for r in first_turns if (r.cached_tokens or 0) >= 1500) >= len(first_turns) - 1
    assert on_summary["cache_write_tokens_total"] == sum(r.cache_write_tokens or 0 for r in records)
    assert on_summary["cached_tokens_total"] > on_summary["cache_write_tokens_total"]
    # Same plan, same prompt tokens; reads at 0.1x outweigh writes at 1.25x.
    assert on_summary["prompt_tokens_total"] == off_summary["prompt_tokens_total"]
    assert on_summary["cost_usd_total"] < off_summary["cost_usd_total"] * 0.6
