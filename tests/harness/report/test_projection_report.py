"""The cost-at-scale section of the reports: drawn from projection.json when there is one,
absent otherwise; unknown figures read as unknown, never $0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.capacity.costs import run_costs
from harness.capacity.document import Replica, projection_document
from harness.contract.capacity import Projection
from harness.contract.terms import Price
from harness.cost import load_price_book
from harness.metrics.costs import CostItem
from harness.report.markdown import markdown_table
from harness.report.projection import projection_context, projection_lines

BOOK = load_price_book({"m": Price(input_per_mtok=1.0, output_per_mtok=4.0)})


def _document() -> dict[str, object]:
    items = [
        CostItem(f"r{i}", "m", "d", 100 + i, 0, 10, 0.001 + i * 1e-5, False) for i in range(30)
    ]
    costs = run_costs(items, BOOK, [f"r{i}" for i in range(30)], 10.0)
    settings = Projection(requests_per_day=1e5, gpu_usd_per_hour=2.0, replica_rps=4)
    return projection_document(costs, settings, "r", np.random.default_rng(0), Replica("x", 2, 4.0))


def test_the_section_is_there_with_a_projection_and_absent_without(tmp_path: Path) -> None:
    assert projection_context(tmp_path / "projection.json")["projection"] is None
    (tmp_path / "projection.json").write_text(json.dumps(_document()))
    section = projection_context(tmp_path / "projection.json")["projection"]
    labels = [label for label, _ in section["headline"]]
    assert "daily cost" in labels and "monthly cost" in labels
    assert section["sensitivity_header"][0].startswith("monthly cost")
    assert any(label == "break-even volume" for label, _ in section["self_hosted"])
    text = "\n".join(projection_lines(_document(), markdown_table))
    assert "### Cost at scale" in text and "(2 GPU x $2.00/h)" in text


def test_missing_figures_read_as_missing() -> None:
    document = _document()
    document["self_hosted"] = None
    document["sensitivity"] = None
    text = "\n".join(projection_lines(document, markdown_table))
    assert "self-hosted" not in text and "Sensitivity" not in text
    assert "$0 " not in text
