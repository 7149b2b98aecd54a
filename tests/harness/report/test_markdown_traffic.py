"""The Markdown report carries what the HTML report shows of special traffic: the wire-API
split when a run spoke more than one API, the gateway cache tables and the guardrail probes
per category, computed from a real summary of hand-made records and ledger."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest
from harness.contract.terms import Slo
from harness.cost import load_price_book
from harness.metrics import SummaryInputs, summarize
from harness.report import formatting as fmt
from harness.report import write_reports
from tests.harness.metrics.conftest import ledger_line, ok_attempt, planned


def _probe(request_id: str, expected: str) -> PlannedRequest:
    tags = {"class": "probe", "category": "injection", "expected": expected, "probe": "x"}
    return planned(request_id, tags=tags)


def _run() -> tuple[list[PlannedRequest], list[AttemptRecord], list[LedgerEntry]]:
    chat = [planned(f"c{i}") for i in range(4)]
    repeat = dataclasses.replace(planned("c4"), repeat_of="c0", similarity=1.0)
    embed = dataclasses.replace(planned("e1"), api="openai-embeddings", stream=False)
    probes = [_probe("p1", "block"), _probe("p2", "block"), _probe("p3", "pass")]
    plan = [*chat, repeat, embed, *probes]
    records = [ok_attempt(p.request_id) for p in plan]
    records[-3] = dataclasses.replace(records[-3], status_code=400, outcome="http_4xx")
    records[-2] = dataclasses.replace(records[-2], finish_reason="content_filter")
    reached = [*chat, embed, probes[-1]]  # c4 answered from a cache; p1, p2 stopped
    ledger = [dataclasses.replace(ledger_line(p.request_id), api=p.api) for p in reached]
    return (
        plan,
        [dataclasses.replace(r, api=p.api) for r, p in zip(records, plan, strict=True)],
        ledger,
    )


def _summary() -> dict[str, Any]:
    plan, records, ledger = _run()
    return summarize(
        SummaryInputs(
            run_id="run-7",
            duration_s=5.0,
            plan=plan,
            records=records,
            ledger=ledger,
            prices=load_price_book({}),
            slo=Slo(ttft=1.0),
            client_cpu_s=0.5,
            wall_s=6.0,
        )
    )


def test_markdown_shows_the_api_split_cache_and_probe_tables(tmp_path: Path) -> None:
    summary = _summary()
    _, records, _ = _run()
    html_path, md_path = write_reports(tmp_path, summary, records, {"run_id": "run-7"})
    md, html = md_path.read_text("utf-8"), html_path.read_text("utf-8")

    assert "### By wire API (client's view)" in md
    assert "| openai-chat |" in md and "| openai-embeddings |" in md

    cache = summary["gateway_cache"]
    assert cache["hits"] == 1
    assert "### Gateway cache by repeat class (latency saved" in md
    exact = cache["by_repeat_class"]["exact"]
    assert f"| exact | {fmt.count(exact['requests_ok'])} | 1 | {fmt.share(1.0)} |" in md

    injection = summary["probes"]["by_category"]["injection"]
    assert (injection["blocked"], injection["false_positives"]) == (2, 0)
    assert "### Guardrail probes by category" in md
    row = f"| injection | 2 | 2 | {fmt.share(1.0)} | 1 | 0 | {fmt.share(0.0)} |"
    assert row in md
    for title in ("gateway cache by repeat class", "guardrail probes by category"):
        assert title in html  # the same tables as the HTML report


def test_a_single_api_run_without_special_traffic_adds_no_sections(tmp_path: Path) -> None:
    plan = [planned(f"c{i}") for i in range(3)]
    records = [ok_attempt(p.request_id) for p in plan]
    summary = summarize(
        SummaryInputs(
            run_id="run-8",
            duration_s=5.0,
            plan=plan,
            records=records,
            ledger=None,
            prices=load_price_book({}),
            slo=Slo(ttft=1.0),
            client_cpu_s=0.5,
            wall_s=6.0,
        )
    )
    _, md_path = write_reports(tmp_path, summary, records, {"run_id": "run-8"})
    md = md_path.read_text("utf-8")
    assert "### By requested model" in md
    assert "By wire API" not in md and "Gateway cache" not in md and "probes" not in md
