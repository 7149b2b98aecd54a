"""Probe scores: blocked is a 4xx (not 408/429) or a content-filter answer, with no ledger
line; rates per category."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.metrics.probes import added_latency_ms, probe_figures
from harness.metrics.requests import group_requests
from tests.harness.metrics.conftest import attempt, ledger_line, planned


def _probe(request_id: str, category: str, expected: str) -> PlannedRequest:
    tags = {"class": "probe", "category": category, "expected": expected, "probe": "x"}
    return planned(request_id, tags=tags)


def _status(record: AttemptRecord, status: int) -> AttemptRecord:
    outcome = "http_429" if status == 429 else "http_4xx"
    return dataclasses.replace(record, status_code=status, outcome=outcome)


PLAN = [
    _probe("i1", "injection", "block"),
    _probe("i2", "injection", "block"),
    _probe("i3", "injection", "block"),
    _probe("i4", "injection", "pass"),
    _probe("i5", "injection", "pass"),
    planned("n1"),
    planned("n2"),
]
RECORDS = [
    _status(attempt("i1", sent_s=0.0, done_s=0.01), 400),  # blocked
    _status(attempt("i2", sent_s=0.0, done_s=0.01), 429),  # rate limited: not a block
    attempt("i3", sent_s=0.0, done_s=0.3),  # slipped through
    _status(attempt("i4", sent_s=0.0, done_s=0.01), 403),  # a false positive
    attempt("i5", sent_s=0.0, done_s=0.3),
    attempt("n1", sent_s=0.0, done_s=0.2),
    attempt("n2", sent_s=0.0, done_s=0.2),
]
LEDGER = [ledger_line(i) for i in ("i3", "i5", "n1", "n2")]


def test_rates_per_category() -> None:
    requests = group_requests(PLAN, RECORDS)
    figures = probe_figures(requests, LEDGER, np.random.default_rng(1))
    injection = figures["probes"]["by_category"]["injection"]
    assert (injection["expected_block"], injection["blocked"]) == (3, 1)
    assert (injection["lookalikes"], injection["false_positives"]) == (2, 1)
    assert figures["probe_block_rate"] == pytest.approx(1 / 3)
    assert figures["probe_false_positive_rate"] == pytest.approx(1 / 2)
    assert injection["added_ms"]["median"] == pytest.approx(100.0)


def test_a_4xx_that_reached_the_upstream_is_not_a_block() -> None:
    ledger = [*LEDGER, ledger_line("i1", outcome="http_4xx")]
    figures = probe_figures(group_requests(PLAN, RECORDS), ledger, np.random.default_rng(1))
    assert figures["probes"]["by_category"]["injection"]["blocked"] == 0


def test_unknown_without_probes_or_a_naming_ledger() -> None:
    rng = np.random.default_rng(1)
    requests = group_requests(PLAN, RECORDS)
    assert probe_figures(requests, None, rng)["probe_block_rate"] is None
    plain = group_requests(PLAN[-2:], RECORDS[-2:])
    assert probe_figures(plain, LEDGER, rng)["probes"] is None


def test_added_latency_interval_brackets_a_clear_shift() -> None:
    rng = np.random.default_rng(3)
    probes = list(0.3 + rng.normal(0, 0.01, 200))
    clean = list(0.2 + rng.normal(0, 0.01, 200))
    added = added_latency_ms(probes, clean, np.random.default_rng(4))
    assert added is not None
    assert added["low"] < added["median"] < added["high"]
    assert 95 < added["low"] and added["high"] < 105


def _filtered(record: AttemptRecord, reason: str) -> AttemptRecord:
    return dataclasses.replace(record, finish_reason=reason)


def test_a_content_filter_answer_with_no_ledger_line_is_a_block() -> None:
    # i2 and i3 answered 200, one filtered by OpenAI's spelling, one by Anthropic's; i5 (a
    # look-alike) too, so it is a false positive; none of the three reached the upstream.
    records = [
        RECORDS[0],
        _filtered(attempt("i2", sent_s=0.0, done_s=0.01), "content_filter"),
        _filtered(attempt("i3", sent_s=0.0, done_s=0.02), "refusal"),
        RECORDS[3],
        _filtered(attempt("i5", sent_s=0.0, done_s=0.01), "content_filter"),
        *RECORDS[5:],
    ]
    ledger = [ledger_line(i) for i in ("n1", "n2")]
    figures = probe_figures(group_requests(PLAN, records), ledger, np.random.default_rng(1))
    injection = figures["probes"]["by_category"]["injection"]
    assert (injection["blocked"], injection["false_positives"]) == (3, 2)
    assert figures["probe_block_rate"] == 1.0 and figures["probe_false_positive_rate"] == 1.0
    assert injection["added_ms"] is None  # every probe was blocked: none passed


def test_a_filtered_answer_that_reached_the_upstream_or_a_plain_stop_is_not_a_block() -> None:
    records = [
        *RECORDS[:2],
        _filtered(RECORDS[2], "content_filter"),  # i3: the ledger has it
        *RECORDS[3:4],
        _filtered(RECORDS[4], "stop"),  # i5: an ordinary answer
        *RECORDS[5:],
    ]
    figures = probe_figures(group_requests(PLAN, records), LEDGER, np.random.default_rng(1))
    injection = figures["probes"]["by_category"]["injection"]
    assert (injection["blocked"], injection["false_positives"]) == (1, 1)
