"""Hand-made run directories with every edge gates and comparisons read: retries, attempts
never sent, dropped requests, requests in flight, unrecorded and unplanned, plan tags (some
empty or missing), final attempts that name no model or deployment, faults, and requests
sharing send times. Written as a run writes them (Parquet chunks and a JSONL tail), then
summarised by ``tokenstorm report``'s in-memory path, so both sample sources read one run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.contract.records import AttemptRecord, PlannedRequest, to_json_line, write_jsonl
from harness.rebuild import rebuild_run
from harness.run_dir import RunPaths
from harness.store.appender import RecordAppender
from workloads.scenario import parse_scenario

OUTCOMES = ("ok", "ok", "ok", "ok", "http_5xx", "stream_cut", "dropped", "cancelled")
TENANTS = ("a", "b", "", None)
MODELS = ("m1", "m2")


def _tags(rng: np.random.Generator) -> dict[str, str]:
    tenant = TENANTS[int(rng.integers(len(TENANTS)))]
    return {} if tenant is None else {"tenant": tenant, "workload": "chat"}


def _planned(index: int, model: str, tags: dict[str, str]) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        offset_s=(index // 2) * 0.05,
        think_s=0.0,
        prompt_tokens=30,
        max_tokens=8,
        model=model,
        api="openai-chat",
        stream=True,
        messages=(),
        tags=tags,
    )


def _attempt(
    index: int, attempt: int, rng: np.random.Generator, tags: dict[str, str], slower: float
) -> AttemptRecord:
    outcome = OUTCOMES[int(rng.integers(len(OUTCOMES)))]
    # Pairs of requests share their times, so samples tie in time and in value.
    scheduled_us = (index // 2) * 50_000 + attempt * 300_000
    sent_us = None if outcome == "dropped" else scheduled_us + int(rng.choice([0, 1000]))
    streamed = outcome in ("ok", "stream_cut", "cancelled") and sent_us is not None
    first_us = sent_us + int(rng.integers(10_000, 300_000) * slower) if streamed else None
    times_us: list[int] = []
    if first_us is not None:
        now_us = first_us
        for _ in range(int(rng.integers(0, 6))):
            now_us += int(rng.choice([0, 1, 1500, 20_000]))
            times_us.append(now_us)
    end_us = times_us[-1] if times_us else (first_us or sent_us)
    done_us = None if outcome == "cancelled" or end_us is None else end_us + 2000
    ok = outcome == "ok"
    model = str(rng.choice(["m1", "m2", ""])) if sent_us is not None else None
    fault = rng.choice([None, "", "http_503", "latency"]) if sent_us is not None else None
    return AttemptRecord(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        attempt=attempt,
        scheduled_s=scheduled_us / 1e6,
        sent_s=None if sent_us is None else sent_us / 1e6,
        first_byte_s=None if first_us is None else first_us / 1e6,
        first_token_s=None if first_us is None else first_us / 1e6,
        done_s=None if done_us is None else done_us / 1e6,
        status_code=200 if ok else (None if sent_us is None else 500),
        outcome=outcome,
        prompt_tokens=30 if ok else None,
        completion_tokens=len(times_us) + 1 if ok and rng.random() < 0.7 else None,
        cached_tokens=int(rng.integers(0, 20)) if ok else None,
        usage_source="server" if ok else None,
        model=model,
        deployment=str(rng.choice(["d1", "d2", ""])) if sent_us is not None else None,
        error_detail=None,
        token_times_s=tuple(t / 1e6 for t in times_us),
        api="openai-chat",
        tags=tags,
        fault=None if fault is None else str(fault),
    )


def write_run(root: Path, seed: int, size: int, *, slower: float = 1.0) -> RunPaths:
    """A summarised run of ``size`` planned requests (plus two only its records name) in
    ``root``; ``slower`` stretches its time to first token."""
    rng = np.random.default_rng(seed)
    paths = RunPaths(root)
    root.mkdir(parents=True)
    duration_s = max(size // 2 * 0.05, 1.0)
    scenario = parse_scenario(
        {
            "name": "made",
            "seed": 1,
            "duration": f"{duration_s:g}s",
            "arrival": {"process": "constant", "rate": "40/s"},
            "workload": [{"kind": "stream", "max_tokens": 8}],
            "slo": {"ttft": "150ms", "e2e": "400ms"},
        },
        "made",
    )
    manifest = {
        "schema": "tokenstorm.manifest/1",
        "run_id": root.name,
        "seed": 1,
        "scenario": scenario.model_dump(mode="json"),
        "client_cpu_s": 0.5,
        "wall_s": duration_s + 1,
        "finished_at": "2026-12-04T00:00:00.000+00:00",
    }
    paths.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    plan: list[PlannedRequest] = []
    records: list[AttemptRecord] = []
    for index in range(size + 2):  # the last two are in no plan line
        tags = _tags(rng)
        if index < size:
            plan.append(_planned(index, MODELS[index % 2], tags))
        if rng.random() < 0.1:
            continue  # planned, never recorded
        for attempt in range(1, int(rng.integers(1, 4)) + 1):
            records.append(_attempt(index, attempt, rng, tags, slower))
    rng.shuffle(records)  # records come in the order attempts end
    write_jsonl(paths.plan, plan)
    tail = len(records) % 7 + 3  # the last records reach records.jsonl only, as if killed
    appender = RecordAppender(paths.records, lambda: 0.0, chunk_rows=7)
    for record in records[:-tail]:
        appender.append(record)
    appender.close()
    with paths.records.open("ab") as handle:
        handle.writelines(to_json_line(record) for record in records[-tail:])
    rebuild_run(paths, reports=False)
    return paths
