"""Hand-made runs with every edge the in-memory summary handles (retries, drops, requests in
flight, unrecorded and unplanned ids, tags, repeats, several models and deployments, an
unpriced model, and ledgers with gateway retries, lines without request ids or attempt
numbers, other runs' lines, dead workers), written as a run writes them; and the check that
the bounded-memory summary of such a run equals the in-memory one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest, write_jsonl
from harness.contract.terms import Slo
from harness.cost import load_price_book
from harness.metrics.summary import SummaryInputs, summarize
from harness.run_dir import RunPaths
from harness.store.appender import RecordAppender
from harness.store.summary import BOUNDED_NOTE, summarize_files

RUN_ID = "x"
UNPRICED = "nobody-prices-this"
_OUTCOMES = ["ok", "ok", "ok", "http_5xx", "stream_cut", "dropped", "cancelled", "http_429"]
# Figures compared up to rounding: sums of floats (cost, means) and ITL, whose percentiles
# come from counts (harness.store.summary); every other figure must be equal exactly.
_ROUNDED = ("usd", "mean", "itl_ms")


#: The figures the bounded-memory summary once left null (cost, upstream, gateway cache).
UPSTREAM_KEYS = (
    "upstream_attempts",
    "retry_amplification",
    "token_amplification",
    "gateway_overhead_ms",
    "upstream_lag_ms",
    "ledger_source",
    "cost_source",
    "cost_usd_total",
    "cost_per_1k_requests_usd",
    "wasted_cost_usd",
    "prices",
    "unpriced_models",
    "gateway_cache_hit_rate",
    "gateway_cache",
)


def same(today: Any, streamed: Any, where: str = "") -> None:
    """``today`` and ``streamed`` are equal: exactly, but for the ``_ROUNDED`` figures."""
    if isinstance(today, dict):
        assert isinstance(streamed, dict) and set(today) == set(streamed), where
        for key in today:
            same(today[key], streamed[key], f"{where}.{key}")
    elif isinstance(today, float) and isinstance(streamed, float):
        if any(word in where for word in _ROUNDED):
            assert math.isclose(today, streamed, rel_tol=1e-9, abs_tol=1e-15), where
        else:
            assert today == streamed, where
    elif isinstance(today, list) and isinstance(streamed, list):
        assert len(today) == len(streamed), where
        for index, (a, b) in enumerate(zip(today, streamed, strict=True)):
            same(a, b, f"{where}[{index}]")
    else:
        assert today == streamed, where


def compare(paths: RunPaths, inputs: SummaryInputs) -> dict[str, Any]:
    """Both summaries of the run in ``paths`` (whose files ``inputs`` holds), proved equal;
    the bounded-memory one is returned."""
    today = summarize(inputs)
    fields = {name: getattr(inputs, name) for name in inputs.__slots__}  # type: ignore[attr-defined]
    empty = SummaryInputs(**{**fields, "plan": (), "records": (), "ledger": None})
    streamed = summarize_files(paths, empty, len(inputs.records))
    bounded = BOUNDED_NOTE.format(n=len(inputs.records))
    assert streamed["notes"][-1] == bounded
    streamed_notes = streamed.pop("notes")[:-1]
    assert streamed_notes == today.pop("notes")
    same(today, streamed)
    return streamed


def inputs_of(
    plan: list[PlannedRequest],
    records: list[AttemptRecord],
    slo: Slo,
    ledger: list[LedgerEntry] | None = None,
    **more: Any,
) -> SummaryInputs:
    return SummaryInputs(
        run_id=more.get("run_id", RUN_ID),
        duration_s=2.0,
        plan=plan,
        records=records,
        ledger=ledger,
        prices=load_price_book({}),
        slo=slo,
        client_cpu_s=more.get("cpu_s", 0.5),
        wall_s=4.0,
        ledger_url=more.get("ledger_url"),
        ledger_origin=more.get("ledger_origin", "unknown"),
        cache_similarity_threshold=more.get("threshold"),
    )


def planned(
    index: int, rng: np.random.Generator | None = None, unpriced: bool = False
) -> PlannedRequest:
    tags: dict[str, str] = {}
    model, api, repeat_of, similarity = "mock-small", "openai-chat", "", None
    if rng is not None:
        tags = {
            name: str(value)
            for name, choices in (("tenant", ["a", "b", ""]), ("workload", ["w", None]))
            if (value := rng.choice(choices)) is not None  # type: ignore[arg-type]
        }
        models = ["mock-small", "mock-large", *([UNPRICED] if unpriced else [])]
        model = str(rng.choice(models))
        api = str(rng.choice(["openai-chat", "anthropic-messages"]))
        if index and rng.random() < 0.4:
            repeat_of = f"r{index - 1}"
            similarity = [1.0, 0.83, 0.91, 0.55, None][int(rng.integers(0, 5))]
    return PlannedRequest(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        offset_s=index * 0.05,
        think_s=0.0,
        prompt_tokens=30,
        max_tokens=8,
        model=model,
        api=api,
        stream=True,
        messages=(),
        tags=tags,
        repeat_of=repeat_of,
        similarity=similarity,
    )


def attempt(
    index: int, number: int, rng: np.random.Generator, outcome: str, varied: bool = False
) -> AttemptRecord:
    scheduled = round(index * 0.05 + number * 0.3, 6)
    sent = None if outcome in ("dropped", "cancelled_unsent") else round(scheduled + 0.001, 6)
    ok = outcome == "ok"
    streamed = outcome in ("ok", "stream_cut", "cancelled")
    first = round(sent + rng.uniform(0.01, 0.3), 6) if sent is not None and streamed else None
    times: list[float] = []
    if first is not None:
        now_us = round(first * 1e6)
        for _ in range(int(rng.integers(0, 9))):
            now_us += int(rng.choice([0, 1, 1500, 20_000, int(rng.integers(1, 90_000))]))
            times.append(now_us / 1e6)
    done = (
        None if outcome == "cancelled" or sent is None else round((times or [sent])[-1] + 0.002, 6)
    )
    usage = rng.choice(["server", "client", None]) if ok or outcome == "stream_cut" else None
    model: str | None = "mock-small"
    deployment: str | None = "d"
    tags: dict[str, str] = {}
    finish: str | None = None
    if varied:
        model = [None, "mock-small", "mock-large", ""][int(rng.integers(0, 4))]
        deployment = [None, "d1", "d2"][int(rng.integers(0, 3))]
        tags = {"tenant": "u"} if rng.random() < 0.5 else {}
        finish = "content_filter" if ok and rng.random() < 0.1 else None
    return AttemptRecord(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        attempt=number,
        scheduled_s=scheduled,
        sent_s=sent,
        first_byte_s=first,
        first_token_s=first,
        done_s=done,
        status_code=200 if ok else (None if sent is None else 500),
        outcome="cancelled" if outcome == "cancelled_unsent" else outcome,
        prompt_tokens=30 if usage is not None else None,
        completion_tokens=None if usage is None else len(times) + 1,
        cached_tokens=int(rng.integers(0, 40)) if usage == "server" else None,
        usage_source=None if usage is None else str(usage),
        model=model,
        deployment=deployment,
        error_detail=None,
        token_times_s=tuple(times),
        api="openai-chat",
        tags=tags,
        planned_prompt_tokens=30 if sent is not None else None,
        cache_write_tokens=int(rng.integers(0, 3)) if usage == "server" else None,
        finish_reason=finish,
    )


def attempts(size: int, rng: np.random.Generator, varied: bool = False) -> list[AttemptRecord]:
    """Records of ``size`` planned requests and two the plan does not hold, in the order
    attempts end (shuffled); about one request in ten has none."""
    records: list[AttemptRecord] = []
    for index in range(size + 2):
        if rng.random() < 0.1:
            continue
        for number in range(1, int(rng.integers(1, 4)) + 1):
            records.append(attempt(index, number, rng, str(rng.choice(_OUTCOMES)), varied))
    rng.shuffle(records)  # type: ignore[arg-type]
    return records


def ledger_of(
    records: list[AttemptRecord], rng: np.random.Generator, unpriced: bool = False
) -> list[LedgerEntry]:
    """Upstream lines for the sent attempts: none, one, or a gateway's failed retry then the
    answer; some without request id or attempt, some of another run, some of a dead worker."""
    entries: list[LedgerEntry] = []
    for record in records:
        if record.sent_s is None:
            continue
        for line in range(int(rng.integers(0, 3))):
            last = line == 0
            outcome = record.outcome if last else str(rng.choice(["http_5xx", "stream_cut", "ok"]))
            died = rng.random() < 0.03
            entries.append(
                LedgerEntry(
                    run_id=[RUN_ID, None, "other"][int(rng.choice([0, 0, 0, 1, 2]))],
                    request_id=None if rng.random() < 0.1 else record.request_id,
                    attempt=None if rng.random() < 0.25 else record.attempt,
                    # ties (tenths) keep file order, as a stable sort does
                    received_s=round(float(rng.uniform(0, 5)), 1),
                    deployment=str(rng.choice(["d1", "d2", ""])),
                    model=str(rng.choice(["mock-small", "", *([UNPRICED] if unpriced else [])])),
                    api=str(rng.choice(["openai-chat", "anthropic-messages"])),
                    stream=True,
                    prompt_tokens=int(rng.integers(0, 50)),
                    cached_tokens=int(rng.integers(0, 60)),
                    completion_tokens=int(rng.integers(0, 3)) * int(rng.integers(0, 9)),
                    fault="worker_died" if died else None,
                    outcome="reset" if died else outcome,
                    status_code=200,
                    service_ms=float(rng.uniform(1, 400)),
                    cache_write_tokens=int(rng.integers(0, 4)),
                    lag_ms=None if rng.random() < 0.2 else float(rng.uniform(0, 5)),
                )
            )
    rng.shuffle(entries)  # type: ignore[arg-type]
    return entries


def write_run(
    folder: Path,
    plan: list[PlannedRequest],
    records: list[AttemptRecord],
    ledger: list[LedgerEntry] | None = None,
) -> tuple[RunPaths, RecordAppender]:
    """The run's files: plan, records in chunks of 7 and a JSONL tail, and the ledger; the
    appender is left open (a run still writing), for the caller to close."""
    paths = RunPaths(folder)
    write_jsonl(paths.plan, plan)
    if ledger is not None:
        write_jsonl(paths.ledger, ledger)
    appender = RecordAppender(paths.records, lambda: 0.0, chunk_rows=7)
    for record in records:
        appender.append(record)
    return paths, appender
