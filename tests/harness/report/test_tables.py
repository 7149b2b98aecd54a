"""Report tables read from a summary dict: unknown figures say so."""

from __future__ import annotations

from harness.report import tables


def test_unknown_cost_figures_read_unknown_in_the_headline() -> None:
    rows = dict(
        tables.headline_rows(
            {"cost_usd_total": None, "cost_per_1k_requests_usd": None, "wasted_cost_usd": None}
        )
    )
    assert rows["wasted cost"].startswith("unknown")
    assert rows["cost total"].startswith("unknown")
    assert "$0" not in "".join(rows.values())


def test_zero_waste_reads_zero() -> None:
    rows = dict(tables.headline_rows({"cost_usd_total": 0.5, "wasted_cost_usd": 0.0}))
    assert rows["wasted cost"] == "$0"


def test_the_headline_names_the_ledger_and_whether_overhead_could_be_measured() -> None:
    proxy = {"url": "http://h/tokenstorm/ledger", "origin": "target", "upstream": "proxy"}
    rows = dict(tables.headline_rows({"ledger_source": proxy}))
    assert rows["upstream ledger"].startswith("http://h/tokenstorm/ledger (found at the target")
    assert "cannot be told" in rows["upstream ledger"]
    assert dict(tables.headline_rows({}))["upstream ledger"] == "none"
