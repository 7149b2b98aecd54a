"""The soak windows of a large run, read as columns from DuckDB, equal those built record by
record: every window's figures, its samples in the same order, and its cost (a real run's
whole soak section: ``tests/harness/store/test_large_run_soak.py``)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import AttemptRecord
from harness.cost import ModelPrice, PriceBook
from harness.run_dir import RunPaths
from harness.stats.soak_columns import soak_slicer
from harness.stats.timeslices import TimeSlicer
from harness.store.appender import RecordAppender
from harness.store.query import run_database

DURATION_S = 600.0
#: "priced" has a price with a cache discount; "other" has none.
PRICES = PriceBook(
    snapshot={},
    named={"priced": ModelPrice(1e-6, 4e-6, 1e-7, 2e-6, "test")},
    snapshot_info={},
)
OUTCOMES = ("ok", "ok", "ok", "http_5xx", "stream_cut", "dropped", "timeout_first_token")


def _record(index: int, rng: np.random.Generator) -> AttemptRecord:
    outcome = str(rng.choice(OUTCOMES))
    sent = None if outcome == "dropped" else round(float(rng.uniform(0, DURATION_S * 1.1)), 6)
    streamed = sent is not None and outcome in ("ok", "stream_cut")
    first = round(sent + float(rng.uniform(0.01, 0.5)), 6) if streamed and sent else None
    done = None if sent is None else round((first or sent) + float(rng.uniform(0, 2)), 6)
    tokens = lambda high: None if rng.random() < 0.2 else int(rng.integers(0, high))  # noqa: E731
    return AttemptRecord(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        attempt=int(rng.integers(1, 3)),
        scheduled_s=max((sent or 1.0) - 0.001, 0.0),
        sent_s=sent,
        first_byte_s=first,
        first_token_s=first,
        done_s=done,
        status_code=200 if outcome == "ok" else None,
        outcome=outcome,
        prompt_tokens=tokens(400),
        completion_tokens=tokens(40) if streamed else None,
        cached_tokens=tokens(100),
        usage_source="server",
        model=str(rng.choice(["priced", "other"])) if rng.random() < 0.3 else "priced",
        deployment=str(rng.choice(["a", "b"])),
        error_detail=None,
        api="openai-chat",
        cache_write_tokens=tokens(10),
    )


def _same_windows(by_record: TimeSlicer, by_column: TimeSlicer) -> None:
    assert by_record.width_s == by_column.width_s
    for old, new in zip(by_record.windows(), by_column.windows(), strict=True):
        old_d, new_d = old.as_dict(), new.as_dict()
        old_cost, new_cost = old_d.pop("cost_usd"), new_d.pop("cost_usd")
        assert old_d == new_d
        assert (old_cost is None) == (new_cost is None)
        if old_cost is not None:
            assert math.isclose(old_cost, new_cost, rel_tol=1e-9, abs_tol=1e-15)
    for name in ("ttft_s", "e2e_s", "failed"):
        assert by_record.samples(name, 0, math.inf) == by_column.samples(name, 0, math.inf)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.booleans())
def test_columns_fill_the_windows_as_records_do(seed: int, size: int, priced: bool) -> None:
    rng = np.random.default_rng(seed)
    records = [_record(i, rng) for i in range(size)]
    prices: PriceBook | None = PRICES if priced else None
    with tempfile.TemporaryDirectory() as folder:
        paths = RunPaths(Path(folder))
        appender = RecordAppender(paths.records, lambda: 0.0, chunk_rows=37)
        for record in records:
            appender.append(record)  # chunks of 37 and a JSONL tail
        with run_database(paths) as con:
            by_column = soak_slicer(con, DURATION_S, prices)
        appender.close()
    _same_windows(TimeSlicer(DURATION_S, prices).add_all(records), by_column)
