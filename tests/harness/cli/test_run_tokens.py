"""The summary's prompt tokens, planned against counted: against the mock with its own
tokenizer (the default) the two agree; with ``[target] tokenizer`` (a tiny BPE made here)
prompts are sized in BPE tokens, the mock counts fewer words, and the summary says so."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli.main import main
from harness.client.tokenizer import FileTokenizer
from harness.contract.prompt_text import VOCABULARY
from harness.contract.records import AttemptRecord, read_jsonl
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

PROMPT_TOKENS = 256


def _run(folder: Path, url: str, run_id: str, tokenizer: str) -> Path:
    scenario = folder / f"{run_id}.toml"
    scenario.write_text(f"""name = "{run_id}"
seed = 5
duration = "1s"
[target]
url = "{url}"
model = "m"
tag_prompt = true
{tokenizer}
[arrival]
process = "constant"
rate = "8/s"
[[workload]]
kind = "stream"
prompt_tokens = {{ dist = "constant", value = {PROMPT_TOKENS} }}
max_tokens = 4
""")
    args = ["run", str(scenario), "--out", str(folder), "--run-id", run_id]
    assert main([*args, "--no-progress", "--no-report"]) == 0
    return folder / run_id


def test_planned_and_upstream_prompt_tokens_side_by_side(
    tmp_path: Path, bpe_tokenizer: Path
) -> None:
    (tmp_path / "tokenizer.json").write_bytes(bpe_tokenizer.read_bytes())
    with EmbeddedMock(constant_settings(2.0, 1.0, 4)) as mock:
        plain = _run(tmp_path, mock.api_url, "plain", "")
        sized = _run(tmp_path, mock.api_url, "sized", 'tokenizer = "tokenizer.json"')

    summary = json.loads((plain / "summary.json").read_text())
    assert summary["prompt_tokenizer"] == "mock"
    assert summary["prompt_tokens_compared_attempts"] == summary["client_attempts"] == 8
    # The mock counts words, as the client does: the tag's words on both sides.
    assert summary["prompt_tokens_planned_total"] == summary["prompt_tokens_upstream_total"]
    assert summary["prompt_tokens_planned_total"] > 8 * PROMPT_TOKENS
    assert summary["prompt_tokens_upstream_ratio"] == 1.0
    assert not any("tokenizer" in note for note in summary["notes"])

    summary = json.loads((sized / "summary.json").read_text())
    assert summary["prompt_tokenizer"] == "tokenizer.json"
    records = list(read_jsonl(sized / "records.jsonl", AttemptRecord))
    counter = FileTokenizer(bpe_tokenizer)
    tag_tokens = max(
        counter.count(f"[tokenstorm run=sized request={r.request_id}]") for r in records
    )
    most_per_word = max(counter.count(word) for word in VOCABULARY)
    # The finish reason the mock streamed reaches the record (max_tokens 4 may cut it).
    assert {r.finish_reason for r in records} <= {"stop", "length"}
    assert all(r.finish_reason for r in records)
    for record in records:
        assert record.planned_prompt_tokens is not None and record.prompt_tokens is not None
        # Sized within the plan's 256 BPE tokens (plus the tag), short by under one word.
        assert PROMPT_TOKENS - most_per_word < record.planned_prompt_tokens
        assert record.planned_prompt_tokens <= PROMPT_TOKENS + tag_tokens
        # The mock counts the words, fewer than the BPE tokens.
        assert record.prompt_tokens < record.planned_prompt_tokens
    planned = sum(r.planned_prompt_tokens or 0 for r in records)
    upstream = sum(r.prompt_tokens or 0 for r in records)
    assert summary["prompt_tokens_planned_total"] == planned
    assert summary["prompt_tokens_upstream_total"] == upstream
    assert summary["prompt_tokens_upstream_ratio"] == upstream / planned < 0.8
    assert any("tokenizer.json tokenizer" in note for note in summary["notes"])
