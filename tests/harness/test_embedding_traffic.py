"""Embedding traffic end to end on the embedded mock: an ``embed`` ingestion workload and
``rag`` with ``embed_query``; embeddings are sent beside the conversation, billed, and shown
beside chat (``by_api``)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli.main import main
from harness.contract.apis import OPENAI_CHAT, OPENAI_EMBEDDINGS
from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest, read_jsonl

_SCENARIO = """
seed = 4
duration = "3s"
drain = "5s"

[arrival]
rate = "8/s"

[target]
tag_prompt = true

[[workload]]
kind = "rag"
documents_per_request = 2
document_tokens = 50
question_tokens = 12
turns = 2
think_time = "10ms"
max_tokens = 4
embed_query = true
[workload.repeat]
share = 0.3
paraphrase_share = 0.5

[[workload]]
kind = "embed"
share = 0.5
documents = 40
batch_size = 5
document_tokens = 30

[[mock.deployments]]
name = "one"
model = "mock-small"
ttft_ms = 2
itl_ms = 1
output_tokens = 4
output_tokens_sigma = 0
jitter = 0
"""


def test_embeddings_beside_chat(tmp_path: Path) -> None:
    scenario = tmp_path / "embed.toml"
    scenario.write_text(_SCENARIO)
    args = ["run", str(scenario), "--out", str(tmp_path), "--run-id", "emb", "--no-progress"]
    assert main(args) == 0
    run = tmp_path / "emb"
    plan = list(read_jsonl(run / "plan.jsonl", PlannedRequest))
    records = list(read_jsonl(run / "records.jsonl", AttemptRecord))
    ledger = list(read_jsonl(run / "ledger.jsonl", LedgerEntry))
    summary = json.loads((run / "summary.json").read_text())

    rag = [p for p in plan if p.tags["workload"] == "rag"]
    ingest = [p for p in plan if p.tags["workload"] == "embed"]
    assert rag and ingest
    assert all(p.api == OPENAI_EMBEDDINGS and len(p.messages) == 5 for p in ingest)
    # Each rag turn is an embedding of its question (odd turn) then the chat (even turn).
    assert {p.api for p in rag if p.turn % 2} == {OPENAI_EMBEDDINGS}
    assert {p.api for p in rag if not p.turn % 2} == {OPENAI_CHAT}

    ok = [r for r in records if r.outcome == "ok"]
    assert len({r.request_id for r in ok}) == len(plan)  # every planned request answered
    by_id = {e.request_id: e for e in ledger}
    for record in ok:
        line = by_id[record.request_id]
        assert line.api == record.api
        assert line.prompt_tokens == record.prompt_tokens
    # A chat turn's prompt holds no embedding request: turn 4's prompt is turn 2's prompt,
    # its answer and turn 4's own messages (plus a tag), never turn 1's or 3's input.
    prompts = {r.request_id: r.prompt_tokens or 0 for r in ok}
    for p in rag:
        if p.turn == 4:
            turn2 = f"{p.session_id}-t1"
            assert prompts[p.request_id] > prompts[turn2]
            assert (
                prompts[p.request_id] - prompts[turn2] <= 4 + sum(m.tokens for m in p.messages) + 4
            )

    by_api = summary["by_api"]
    chat, embeddings = by_api[OPENAI_CHAT], by_api[OPENAI_EMBEDDINGS]
    assert embeddings["requests_ok"] == sum(1 for p in plan if p.api == OPENAI_EMBEDDINGS)
    assert embeddings["tokens"]["prompt_tokens"] == sum(
        e.prompt_tokens for e in ledger if e.api == OPENAI_EMBEDDINGS
    )
    assert embeddings["e2e_ms"]["count"] == embeddings["requests_ok"]
    assert chat["tokens"]["completion_tokens"] > 0
    assert embeddings["cost_usd_total"] is not None and chat["cost_usd_total"] is not None
    assert "wire API" in (run / "report.html").read_text()
