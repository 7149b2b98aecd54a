from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.contract.terms import Slo
from harness.cost import load_price_book
from harness.metrics import SummaryInputs, summarize
from harness.report import formatting as fmt
from harness.report import write_reports
from harness.report.markdown import markdown_table

TARGET = "http://127.0.0.1:9/v1"
MANIFEST: dict[str, Any] = {
    "run_id": "run-42",
    "scenario": {"name": "smoke <script>alert(1)</script>"},
    "target_url": TARGET,
    "started_at": "2026-01-02T03:04:05+00:00",
    "tokenstorm_version": "0.1.0",
}


def _planned(request_id: str, tenant: str) -> PlannedRequest:
    return PlannedRequest(
        request_id,
        f"s-{request_id}",
        1,
        0.0,
        0.0,
        100,
        20,
        "mock-small",
        "openai-chat",
        True,
        (),
        {"tenant": tenant, "workload": "stream"},
    )


def _attempt(
    request_id: str, start_s: float, outcome: str = "ok", attempt: int = 1, fault: str | None = None
) -> AttemptRecord:
    ok = outcome == "ok"
    first = start_s + 0.1 if ok else None
    tokens = tuple(start_s + 0.1 + 0.01 * k for k in range(1, 6)) if ok else ()
    return AttemptRecord(
        request_id=request_id,
        session_id=f"s-{request_id}",
        turn=1,
        attempt=attempt,
        scheduled_s=start_s,
        sent_s=start_s + 0.001,
        first_byte_s=first,
        first_token_s=first,
        done_s=start_s + (0.2 if ok else 0.05),
        status_code=200 if ok else 503,
        outcome=outcome,
        prompt_tokens=100 if ok else None,
        completion_tokens=6 if ok else None,
        cached_tokens=0 if ok else None,
        usage_source="server" if ok else None,
        model="mock-small",
        deployment="small-fast",
        error_detail=None,
        token_times_s=tokens,
        tags={"tenant": "acme"},
        fault=fault,
    )


def _summary(plan: list[PlannedRequest], records: list[AttemptRecord]) -> dict[str, Any]:
    return summarize(
        SummaryInputs(
            run_id="run-42",
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


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower()  # also proves the scenario name was escaped
    assert "<link" not in html.lower()
    assert not re.search(r"url\(\s*['\"]?(?!#)", html), "url() must only point inside the page"
    parser = _Collect()
    parser.feed(html)
    for tag, attrs in parser.tags:
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    # The only absolute URL is the user's own target, shown as text.
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) <= {TARGET}


def _run(
    tmp_path: Path, plan: list[PlannedRequest], records: list[AttemptRecord]
) -> tuple[dict[str, Any], str, str]:
    summary = _summary(plan, records)
    html_path, md_path = write_reports(tmp_path, summary, records, MANIFEST)
    assert html_path == tmp_path / "report.html" and md_path == tmp_path / "report.md"
    return summary, html_path.read_text("utf-8"), md_path.read_text("utf-8")


def test_report_of_a_small_run_shows_the_key_figures(tmp_path: Path) -> None:
    plan = [_planned(f"r{i}", "acme" if i % 2 else "globex") for i in range(12)]
    records = [_attempt(f"r{i}", i * 0.4) for i in range(10)]
    records += [
        _attempt("r10", 4.0, "http_5xx", fault="http_503"),
        _attempt("r11", 4.2, "http_429"),
        _attempt("r11", 4.6, attempt=2),
    ]
    summary, html, md = _run(tmp_path, plan, records)
    _assert_self_contained(html)
    assert html.count("<svg") == 5
    assert "run-42" in html and "run-42" in md
    assert "smoke &lt;script&gt;" in html
    for figure in (
        fmt.ms(summary["ttft_ms"]["p99"]),
        fmt.ms(summary["e2e_ms"]["p50"]),
        fmt.share(summary["error_rate"]),
        fmt.usd(summary["cost_usd_total"]),
    ):
        assert figure in html
        assert figure in md
    assert "VALID" in md and "INVALID" not in md
    assert "| http_5xx | 1 |" in md
    assert "mock-small" in md and "globex" in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "chart ids must not clash inside one page"
    references = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', html))
    assert references and references <= set(ids)


def test_report_of_a_run_where_everything_failed(tmp_path: Path) -> None:
    plan = [_planned(f"r{i}", "acme") for i in range(3)]
    records = [_attempt(f"r{i}", i * 0.5, "http_5xx") for i in range(3)]
    summary, html, md = _run(tmp_path, plan, records)
    _assert_self_contained(html)
    assert summary["requests_ok"] == 0
    assert "TTFT and E2E over time: no data" in html
    assert "ITL distribution: no data" in html
    assert fmt.share(1.0) in md


def test_report_of_an_empty_run(tmp_path: Path) -> None:
    summary, html, md = _run(tmp_path, [], [])
    _assert_self_contained(html)
    assert "<svg" not in html
    assert "INVALID" in html and "INVALID" in md
    assert "no request was sent" in md
    assert summary["requests_planned"] == 0


def test_report_tolerates_a_sparse_summary(tmp_path: Path) -> None:
    html_path, md_path = write_reports(tmp_path, {"run_id": "old"}, [], {})
    assert "old" in html_path.read_text("utf-8")
    assert fmt.MISSING in md_path.read_text("utf-8")


@pytest.mark.parametrize("value", ["a|b", "x<b>y", "line\nbreak"])
def test_markdown_cells_cannot_break_the_table(value: str) -> None:
    *_, row = markdown_table(("name", "n"), [(value, "1")])
    assert len(re.findall(r"(?<!\\)\|", row)) == 3  # only the three cell borders
    assert "<" not in row and "\n" not in row
