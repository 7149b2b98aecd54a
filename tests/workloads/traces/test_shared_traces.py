"""Replaying each shared trace reproduces it: request count, token counts and scaled offsets
exactly, Mooncake's block reuse and TraceLab's session prefixes; the expected side is computed
here from the raw files with the standard library and numpy, not with the replayer's parsers."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.contract.distributions import BUNDLED_TRACES_DIR
from harness.contract.prompt_text import synthetic_text
from harness.contract.records import PlannedRequest
from harness.contract.traffic import Trace
from workloads.traces import detect_format, load_trace, replay_trace

TRACES = BUNDLED_TRACES_DIR


def _ns(iso: str) -> int:
    return int(np.datetime64(iso.rstrip("Z").replace(" ", "T"), "ns").astype(np.int64))


def _azure(path: Path) -> list[tuple[int, int, int]]:
    with path.open(newline="") as handle:
        return [
            (_ns(row["TIMESTAMP"]), int(row["ContextTokens"]), int(row["GeneratedTokens"]))
            for row in csv.DictReader(handle)
        ]


def _burstgpt(path: Path) -> list[tuple[int, int, int]]:
    with path.open(newline="") as handle:
        return [
            (int(row["Timestamp"]) * 10**9, int(row["Request tokens"]), int(row["Response tokens"]))
            for row in csv.DictReader(handle)
        ]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mooncake(path: Path) -> list[tuple[int, int, int]]:
    return [
        (row["timestamp"] * 10**6, row["input_length"], row["output_length"])
        for row in _jsonl(path)
    ]


def _tracelab(path: Path) -> list[tuple[int, int, int]]:
    rows = _jsonl(path)
    times = [_ns(row["timing_events"][0]["timestamp"]) for row in rows]
    starts: dict[str, int] = {}
    for row, time in zip(rows, times, strict=True):
        starts[row["session_id"]] = min(starts.get(row["session_id"], time), time)
    return [
        (time - starts[row["session_id"]], row["input_tokens_total"], row["output_tokens"])
        for row, time in zip(rows, times, strict=True)
    ]


SHARED = {
    "AzureLLMInferenceTrace_code.csv": ("azure", _azure),
    "AzureLLMInferenceTrace_conv.csv": ("azure", _azure),
    "BurstGPT_1.csv": ("burstgpt", _burstgpt),
    "conversation_trace.jsonl": ("mooncake", _mooncake),
    "synthetic_trace.jsonl": ("mooncake", _mooncake),
    "round_trace.jsonl": ("tracelab", _tracelab),
}


def _replay(name: str, time_scale: float = 1.0) -> list[PlannedRequest]:
    path = TRACES / name
    trace = Trace(path=str(path), time_scale=time_scale)
    return replay_trace(load_trace(path), trace, seed=11, api="openai-chat", model="m", stream=True)


def _by_row(plan: list[PlannedRequest]) -> dict[int, PlannedRequest]:
    return {int(request.session_id.removeprefix("r")): request for request in plan}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_the_format_is_detected_from_the_first_line(name: str) -> None:
    first = (TRACES / name).read_text().splitlines()[0]
    assert detect_format(first, name) == SHARED[name][0]


@pytest.mark.parametrize("time_scale", [1.0, 7.5])
@pytest.mark.parametrize("name", sorted(SHARED))
def test_replay_reproduces_count_tokens_and_scaled_offsets_exactly(
    name: str, time_scale: float
) -> None:
    expected = SHARED[name][1](TRACES / name)
    plan = _replay(name, time_scale)
    assert len(plan) == len(expected)
    by_row = _by_row(plan)
    assert sorted(by_row) == list(range(len(expected)))
    origin_ns = min(time for time, _, _ in expected)
    for index, (time_ns, prompt, output) in enumerate(expected):
        request = by_row[index]
        assert request.offset_s == (time_ns - origin_ns) / 1e9 / time_scale
        assert request.prompt_tokens == prompt
        assert sum(message.tokens for message in request.messages) == prompt
        assert request.max_tokens == max(output, 1)
        assert request.turn == 1 and request.think_s == 0.0
    offsets = [request.offset_s for request in plan]
    assert offsets == sorted(offsets)


def test_burstgpt_failed_rows_are_kept_tagged_and_ask_for_one_token() -> None:
    expected = _burstgpt(TRACES / "BurstGPT_1.csv")
    failed = {index for index, (_, _, output) in enumerate(expected) if output == 0}
    assert failed  # the shared slice has 0/0 rows; the test must see some
    by_row = _by_row(_replay("BurstGPT_1.csv"))
    tagged = {
        index for index, request in by_row.items() if request.tags.get("trace_failed") == "true"
    }
    assert tagged == failed
    assert all(by_row[index].max_tokens == 1 for index in failed)


def _block_reuse(blocks: list[list[Any]]) -> float:
    seen: set[Any] = set()
    reused = total = 0
    for row in blocks:
        for block in row:
            reused += block in seen
            seen.add(block)
            total += 1
    return reused / total


@pytest.mark.parametrize("name", ["conversation_trace.jsonl", "synthetic_trace.jsonl"])
def test_mooncake_hash_ids_become_shared_blocks_with_the_traces_reuse(name: str) -> None:
    rows = _jsonl(TRACES / name)
    plan = _replay(name)
    by_row = _by_row(plan)
    seed_of: dict[int, int] = {}
    plan_blocks = []
    for index, row in enumerate(rows):
        messages = by_row[index].messages
        assert len(messages) == len(row["hash_ids"])
        assert all(message.tokens == 512 for message in messages[:-1])
        for block_id, message in zip(row["hash_ids"], messages, strict=True):
            assert seed_of.setdefault(block_id, message.seed) == message.seed
        plan_blocks.append([message.seed for message in messages])
    assert len(set(seed_of.values())) == len(seed_of)  # distinct ids, distinct text
    ordered = [plan_blocks[int(r.session_id[1:])] for r in plan]
    trace_ordered = [rows[int(r.session_id[1:])]["hash_ids"] for r in plan]
    assert _block_reuse(ordered) == _block_reuse(trace_ordered)


def test_tracelab_calls_resend_their_sessions_cached_prefix() -> None:
    rows = _jsonl(TRACES / "round_trace.jsonl")
    by_row = _by_row(_replay("round_trace.jsonl"))
    sessions: defaultdict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        sessions[row["session_id"]].append(index)
        assert by_row[index].tags["trace_session"] == row["session_id"]
    assert Counter(len(indices) for indices in sessions.values()) == Counter({10: 1, 9: 1})
    for indices in sessions.values():
        indices.sort(key=lambda index: rows[index]["round_index"])
        for before, after in itertools.pairwise(indices):
            words_before = " ".join(
                synthetic_text(m.tokens, m.seed) for m in by_row[before].messages
            ).split()
            words_after = " ".join(
                synthetic_text(m.tokens, m.seed) for m in by_row[after].messages
            ).split()
            keep = min(rows[after]["prefix_tokens"], len(words_before))
            assert words_after[:keep] == words_before[:keep]
