"""The files' cost and upstream samples are the records': on hand-made runs with every edge
(no ledger, a ledger whose run lines name requests, one with lines that name none; retries,
gateway retries, drops, unplanned ids, a request id on two plan lines, ledger lines of
requests never sent and of other runs, several models and deployments, unpriced models),
``cost_per_1k_requests_usd`` and ``retry_amplification`` have the same samples in the same
order from both sources, or none from either; a tag-filtered slice has none, with a reason."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.columns import Samples
from harness.stats.file_samples import FileSamples
from harness.stats.run_data import RunData, load_run
from harness.stats.slices import TagFilter
from harness.stats.sources import RecordSamples, source_of
from tests.harness.stats.costed_runs import LEDGERS, write_costed_run

METRICS = ("cost_per_1k_requests_usd", "retry_amplification")


def _both(root: Path) -> tuple[RunData, RunData]:
    return load_run(root), load_run(root, streamed_above=0)


def _same(found: Samples | None, expected: Samples | None, where: str) -> None:
    assert (found is None) == (expected is None), where
    if found is not None and expected is not None:
        for name in ("times_s", "values"):
            a, b = getattr(found, name), getattr(expected, name)
            assert a.dtype == b.dtype == np.float64, where
            assert np.array_equal(a, b), f"{where}.{name}"


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 40),
    st.sampled_from(LEDGERS),
    st.booleans(),
    st.booleans(),
)
def test_the_files_give_the_records_cost_and_upstream_samples(
    seed: int, size: int, ledger: str, unpriced: bool, varied: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "run"
        memory, files = _both(
            write_costed_run(root, seed, size, ledger=ledger, unpriced=unpriced, varied=varied).root
        )
        assert isinstance(source_of(files), FileSamples)
        for metric in METRICS:
            _same(
                source_of(files).samples(metric, ()),
                RecordSamples(memory).samples(metric, ()),
                metric,
            )


# (ledger, unpriced models, varied records) -> whether cost and upstream samples exist.
CASES = (
    ("none", False, False, True, False),
    ("none", True, True, False, False),  # unplanned requests' attempts name no priced model
    ("with_ids", False, True, True, True),
    ("with_ids", True, True, False, True),
    ("some_without_ids", False, True, False, False),
)


@pytest.mark.parametrize(("ledger", "unpriced", "varied", "costed", "counted"), CASES)
def test_each_edge_is_in_the_runs_and_answered_alike(
    tmp_path: Path, ledger: str, unpriced: bool, varied: bool, costed: bool, counted: bool
) -> None:
    paths = write_costed_run(
        tmp_path / "run", 7, 40, ledger=ledger, unpriced=unpriced, varied=varied
    )
    memory, files = _both(paths.root)
    found = {m: source_of(files).samples(m, ()) for m in METRICS}
    for metric in METRICS:
        _same(found[metric], RecordSamples(memory).samples(metric, ()), metric)
    assert (found["cost_per_1k_requests_usd"] is not None) == costed
    assert (found["retry_amplification"] is not None) == counted
    cost = found["cost_per_1k_requests_usd"]
    if cost is not None:  # one sample per sent request, its mean near the summary's figure
        assert len(cost.values) == memory.summary["requests_sent"]
        assert np.all(cost.values >= 0) and np.any(cost.values > 0)
        if ledger == "none":  # no line of an unsent request: the mean is the figure
            figure = memory.summary["cost_per_1k_requests_usd"]
            assert cost.values.mean() == pytest.approx(figure, rel=1e-12)
    upstream = found["retry_amplification"]
    if upstream is not None:
        assert upstream.values.max() >= 3  # a request with gateway retries: sums of 3+ floats


def test_a_tag_filtered_slice_has_no_cost_samples_and_says_why(tmp_path: Path) -> None:
    paths = write_costed_run(tmp_path / "run", 7, 40, ledger="with_ids")
    source = FileSamples(load_run(paths.root, streamed_above=0))
    for metric in METRICS:
        assert source.samples(metric, ()) is not None
        assert source.samples(metric, (TagFilter("tenant", "a"),)) is None
        assert "whole run only" in source.no_samples(metric)
