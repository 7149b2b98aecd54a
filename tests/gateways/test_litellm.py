"""``tokenstorm run`` through a real LiteLLM proxy to the mock: healthy streams pass with the
server's usage; LiteLLM drops the ``x-tokenstorm-*`` headers, so records and ledger correlate
by the prompt tag (``target.tag_prompt``, every turn of a session under its own request id)
or, without it, the run says it is aggregate-only; retry amplification from the ledger shows
LiteLLM's own retries."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

from harness.cli.main import main
from harness.contract.records import AttemptRecord, LedgerEntry, read_jsonl

if TYPE_CHECKING:
    from conftest import GatewayRuns, Upstream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_healthy_streams_pass_with_server_usage(
    litellm_retry2: str, upstream: Upstream, runs: GatewayRuns, master_key: None
) -> None:
    upstream.reset()
    upstream.set_faults()
    run = runs.run("litellm-ok", litellm_retry2, upstream.ledger_url, rate_rps=4.0, tag_prompt=True)
    summary, records, ledger = run.summary, run.records, run.ledger
    assert summary["requests_sent"] >= 6
    assert summary["requests_ok"] == summary["requests_sent"]
    assert summary["ttft_ms"]["count"] == summary["requests_ok"]
    assert summary["itl_ms"]["count"] > 0
    assert all(r.usage_source == "server" for r in records)
    assert all(r.completion_tokens == 12 for r in records)
    assert summary["retry_amplification"] == 1.0
    assert summary["cost_usd_total"] is not None and summary["cost_usd_total"] > 0
    # LiteLLM forwards the body but not our headers: the prompt tag names run and request,
    # so each ledger line pairs with its client attempt.
    assert len(ledger) == len(records)
    assert all(e.run_id == "litellm-ok" and e.attempt is None for e in ledger)
    assert sorted(e.request_id or "" for e in ledger) == sorted(r.request_id for r in records)
    assert "ledger_note" not in run.manifest
    assert not any("request ids" in note for note in summary["notes"])
    assert summary["gateway_overhead_ms"]["count"] == len(records)


def test_num_retries_2_triples_upstream_attempts_on_500(
    litellm_retry2: str, upstream: Upstream, runs: GatewayRuns, master_key: None
) -> None:
    upstream.reset()
    upstream.set_faults(http_500=1.0)
    try:
        run = runs.run("litellm-500", litellm_retry2, upstream.ledger_url, rate_rps=2.0)
    finally:
        upstream.set_faults()
    summary, records, ledger = run.summary, run.records, run.ledger
    assert summary["requests_sent"] >= 4
    assert summary["requests_ok"] == 0
    assert summary["client_attempts"] == summary["requests_sent"]
    assert Counter(e.status_code for e in ledger) == {500: len(ledger)}
    assert Counter(r.status_code for r in records) == {500: len(records)}
    assert summary["upstream_attempts"] == len(ledger)
    assert summary["retry_amplification"] == 3.0
    # No prompt tag: nothing in the ledger names the run, and the run says so.
    assert all(e.run_id is None and e.request_id is None for e in ledger)
    assert "without a run id" in run.manifest["ledger_note"]
    assert any("carry no request ids" in note for note in summary["notes"])
    assert summary["gateway_overhead_ms"] is None


def test_tagged_multi_turn_sessions_pair_every_turn(
    litellm_retry2: str, upstream: Upstream, runs: GatewayRuns, master_key: None
) -> None:
    """Chat sessions with a system prompt re-send their tagged history through LiteLLM; each
    turn's own tag, at the end of its last user message, names its request in the ledger."""
    upstream.reset()
    upstream.set_faults()
    scenario = runs.folder / "litellm-chat.toml"
    scenario.write_text(f"""name = "litellm-chat"
seed = 12
duration = "1.5s"
drain = "40s"
[target]
url = "{litellm_retry2}"
model = "mock-small"
timeout = "30s"
tag_prompt = true
[client.retry]
attempts = 1
[arrival]
process = "constant"
rate = "2/s"
[[workload]]
kind = "chat"
system_prompt_tokens = 100
prompt_tokens = {{ dist = "constant", value = 30 }}
turns = {{ dist = "constant", value = 3 }}
think_time = {{ dist = "constant", value = 0.05 }}
max_tokens = 12
""")
    assert (
        main(
            [
                "run",
                str(scenario),
                "--ledger",
                upstream.ledger_url,
                "--out",
                str(runs.folder),
                "--run-id",
                "litellm-chat",
                "--no-progress",
            ]
        )
        == 0
    )
    folder = runs.folder / "litellm-chat"
    records = list(read_jsonl(folder / "records.jsonl", AttemptRecord))
    entries = list(read_jsonl(folder / "ledger.jsonl", LedgerEntry))
    assert records and all(r.outcome == "ok" for r in records)
    assert {r.turn for r in records} == {1, 2, 3}
    assert all(e.run_id == "litellm-chat" and e.attempt is None for e in entries)
    assert sorted(e.request_id or "" for e in entries) == sorted(r.request_id for r in records)
    ledger = {e.request_id: e for e in entries}
    for record in records:  # the tags' words counted alike on both sides
        assert record.prompt_tokens == ledger[record.request_id].prompt_tokens


def test_compare_shows_what_num_retries_costs_on_a_flaky_upstream(
    litellm_retry2: str,
    litellm_noretry: str,
    upstream: Upstream,
    runs: GatewayRuns,
    master_key: None,
) -> None:
    """One plan through LiteLLM with ``num_retries: 2`` and with ``0`` against an upstream
    failing half of all attempts: the retries buy successes with upstream attempts, and
    ``tokenstorm compare`` puts the two amplifications side by side."""
    upstream.reset()
    upstream.set_faults(http_500=0.5)
    try:
        retry2 = runs.run(
            "litellm-flaky",
            litellm_retry2,
            upstream.ledger_url,
            run_id="retry2",
            rate_rps=8.0,
            duration_s=3.0,
            tag_prompt=True,
        )
        noretry = runs.run(
            "litellm-flaky",
            litellm_noretry,
            upstream.ledger_url,
            run_id="noretry",
            rate_rps=8.0,
            duration_s=3.0,
            tag_prompt=True,
        )
    finally:
        upstream.set_faults()
    assert noretry.summary["retry_amplification"] == 1.0
    assert noretry.summary["requests_failed"] > 0
    assert retry2.summary["retry_amplification"] > 1.2
    assert retry2.summary["requests_ok"] > noretry.summary["requests_ok"]
    out = runs.folder / "cmp"
    assert main(["compare", str(noretry.folder), str(retry2.folder), "--out", str(out)]) == 0
    table = (out / "comparison.md").read_text()
    # Tagged prompts give per-request upstream attempts, so the difference gets a test.
    row = next(
        line
        for line in table.splitlines()
        if line.startswith("| retry amplification |") and "+" in line
    )
    assert row.rstrip(" |").endswith("yes"), row
