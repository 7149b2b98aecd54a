"""Synthesise a run directory of N attempts for the storage and report benchmarks.

Requests arrive at ``rate`` per second; each answer streams 48 tokens (TTFT lognormal around
60 ms, gaps around 20 ms, whole microseconds like the engine's); 2 % of requests fail once
with a 503 and succeed on a retry. Written: manifest.json, plan.jsonl, ledger.jsonl and its
columnar copy ``ledger.parquet``, the Parquet chunks of the records (as a run writes them
all), and with ``jsonl=True`` records.jsonl
as well (what today's ``tokenstorm report`` reads; about 1 KB an attempt). Built with numpy a
chunk at a time, so synthesising 10 million attempts needs little memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from harness.contract.records import to_json_line
from harness.run_dir import RunPaths
from harness.store.chunks import CHUNK_ROWS, chunk_dir, write_chunk
from harness.store.ledger_copy import write_ledger_copy
from harness.store.query import MEMORY_LIMIT
from harness.store.schema import RECORD_ARROW_SCHEMA, from_batch
from workloads.scenario import parse_scenario

TOKENS = 48
RETRY_SHARE = 0.02


def _scenario(duration_s: float, rate: float) -> dict[str, object]:
    scenario = parse_scenario(
        {
            "name": "synthetic",
            "seed": 1,
            "duration": f"{duration_s:g}s",
            "arrival": {"process": "constant", "rate": f"{rate:g}/s"},
            "workload": [{"kind": "stream", "max_tokens": TOKENS}],
        },
        "synthetic",
    )
    return scenario.model_dump(mode="json")


def _requests(first: int, count: int, rate: float, rng: np.random.Generator) -> dict[str, object]:
    index = np.arange(first, first + count)
    offset = np.round(index / rate, 6)
    retried = rng.random(count) < RETRY_SHARE
    return {"index": index, "offset": offset, "retried": retried}


def _attempt_batch(req: dict[str, np.ndarray], rng: np.random.Generator) -> pa.RecordBatch:
    """One row per attempt: a failed first attempt then the retry for retried requests."""
    index, offset, retried = req["index"], req["offset"], req["retried"]
    n_fail = int(retried.sum())
    rows = len(index) + n_fail
    # failed first attempts first in each chunk (they end first), then every final attempt
    req_of_row = np.concatenate([index[retried], index])
    attempt = np.concatenate([np.ones(n_fail, np.int32), np.where(retried, 2, 1).astype(np.int32)])
    ok = np.concatenate([np.zeros(n_fail, bool), np.ones(len(index), bool)])
    scheduled = np.concatenate([offset[retried], offset + np.where(retried, 0.5, 0.0)])
    scheduled_us = np.round(scheduled * 1e6).astype(np.int64)
    sent_us = scheduled_us + rng.integers(50, 900, rows)
    ttft_us = np.round(rng.lognormal(np.log(60_000), 0.4, rows)).astype(np.int64)
    gaps = np.maximum(rng.normal(20_000, 4_000, (rows, TOKENS - 1)).round(), 0).astype(np.int32)
    first_us = sent_us + ttft_us
    done_us = np.where(ok, first_us + gaps.sum(axis=1) + 300, sent_us + 2_000)
    flat_gaps = gaps[ok].reshape(-1)
    lengths = np.where(ok, TOKENS - 1, 0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    ids = [f"s{i:09d}-t1" for i in req_of_row]
    sessions = [f"s{i:09d}" for i in req_of_row]
    ok_or_none = lambda values: pa.array(np.where(ok, values, 0), mask=~ok)  # noqa: E731
    columns = {
        "request_id": pa.array(ids),
        "session_id": pa.array(sessions),
        "turn": pa.array(np.ones(rows, np.int32)),
        "attempt": pa.array(attempt),
        "scheduled_s": pa.array(scheduled_us / 1e6),
        "sent_s": pa.array(sent_us / 1e6),
        "first_byte_s": pa.array(first_us / 1e6, mask=~ok),
        "first_token_s": pa.array(first_us / 1e6, mask=~ok),
        "done_s": pa.array(done_us / 1e6),
        "status_code": pa.array(np.where(ok, 200, 503).astype(np.int32)),
        "outcome": pa.array(np.where(ok, "ok", "http_5xx")),
        "prompt_tokens": ok_or_none(np.full(rows, 512, np.int32)),
        "completion_tokens": ok_or_none(np.full(rows, TOKENS, np.int32)),
        "cached_tokens": ok_or_none(np.zeros(rows, np.int32)),
        "usage_source": pa.array(np.where(ok, "server", None)),
        "model": pa.array(["mock-small"] * rows),
        "deployment": pa.array(["d1"] * rows),
        "error_detail": pa.array(np.where(ok, None, "HTTP 503")),
        "token_gaps_us": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat_gaps)),
        "api": pa.array(["openai-chat"] * rows),
        "tags": pa.MapArray.from_arrays(
            pa.array(np.arange(rows + 1, dtype=np.int32)),
            pa.array(["workload"] * rows),
            pa.array(["stream"] * rows),
        ),
        "retry_after_s": pa.nulls(rows, pa.float64()),
        "fault": pa.array(np.where(ok, None, "http_503")),
        "cache_write_tokens": ok_or_none(np.zeros(rows, np.int32)),
        "planned_prompt_tokens": pa.array(np.full(rows, 512, np.int32)),
        "finish_reason": pa.array(np.where(ok, "stop", None)),
    }
    arrays = [columns[field.name].cast(field.type) for field in RECORD_ARROW_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=RECORD_ARROW_SCHEMA)


def _plan_lines(req: dict[str, np.ndarray]) -> Iterator[str]:
    for i, offset in zip(req["index"].tolist(), req["offset"].tolist(), strict=True):
        yield (
            f'{{"request_id":"s{i:09d}-t1","session_id":"s{i:09d}","turn":1,"offset_s":{offset},'
            '"think_s":0.0,"prompt_tokens":512,"max_tokens":48,"model":"mock-small",'
            '"api":"openai-chat","stream":true,"messages":[{"role":"user","tokens":512,'
            f'"seed":{i},"content":""}}],"tags":{{"workload":"stream"}},"resend_history":true,'
            '"schema":"tokenstorm.plan/1"}\n'
        )


def _ledger_lines(batch: pa.RecordBatch, run_id: str) -> Iterator[str]:
    ids = batch.column("request_id").to_pylist()
    attempts = batch.column("attempt").to_pylist()
    sent = batch.column("sent_s").to_pylist()
    outcomes = batch.column("outcome").to_pylist()
    for request_id, attempt, sent_s, outcome in zip(ids, attempts, sent, outcomes, strict=True):
        ok = outcome == "ok"
        tokens, fault, status = (48, "null", 200) if ok else (0, '"http_503"', 503)
        yield (
            f'{{"run_id":"{run_id}","request_id":"{request_id}","attempt":{attempt},'
            f'"received_s":{sent_s},"deployment":"d1","model":"mock-small",'
            '"api":"openai-chat","stream":true,"prompt_tokens":512,"cached_tokens":0,'
            f'"completion_tokens":{tokens},"fault":{fault},"outcome":"{outcome}",'
            f'"status_code":{status},"service_ms":1000.0,"cache_write_tokens":0,'
            '"lag_ms":0.0,"schema":"tokenstorm.ledger/1"}\n'
        )


def synthesise(root: Path, attempts: int, *, rate: float = 1000.0, jsonl: bool = False) -> int:
    """Write a run of about ``attempts`` attempts into ``root``; returns the exact count."""
    paths = RunPaths(root)
    root.mkdir(parents=True, exist_ok=False)
    requests = round(attempts / (1 + RETRY_SHARE))
    duration_s = requests / rate
    rng = np.random.default_rng(7)
    manifest = {
        "schema": "tokenstorm.manifest/1",
        "run_id": root.name,
        "name": "synthetic",
        "seed": 1,
        "scenario": _scenario(duration_s, rate),
        "embedded_mock": True,
        "ledger_url": "http://127.0.0.1:1/tokenstorm/ledger",
        "ledger_origin": "embedded",
        "client_cpu_s": duration_s * 0.2,
        "wall_s": duration_s + 5,
        "finished_at": "2026-12-04T00:00:00.000+00:00",
        "pool": {"max_connections": 1000, "attempts_waited_for_pool": 0},
    }
    paths.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    chunks = chunk_dir(paths.records)
    chunks.mkdir()
    written = 0
    with (
        paths.plan.open("w") as plan,
        paths.ledger.open("w") as ledger,
        paths.records.open("wb") if jsonl else open("/dev/null", "wb") as records,
    ):
        per_chunk = int(CHUNK_ROWS / (1 + RETRY_SHARE))
        for number, first in enumerate(range(0, requests, per_chunk)):
            req = _requests(first, min(per_chunk, requests - first), rate, rng)
            batch = _attempt_batch(req, rng)
            plan.writelines(_plan_lines(req))
            ledger.writelines(_ledger_lines(batch, root.name))
            if jsonl:
                for record in from_batch(batch):
                    records.write(to_json_line(record))
            write_chunk(chunks, number, [batch], records.tell() if jsonl else 0)
            written += batch.num_rows
    # As a run does once it has fetched its ledger (harness.runner).
    write_ledger_copy(paths, MEMORY_LIMIT)
    return written
