"""The files' sample source gives what the records' source gives: the same samples in the same
order (so the same percentiles and seeded intervals) and the same slice figures, for every
metric it answers and any tag filters; what it does not answer is unknown with a reason."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.stats.run_data
from harness.stats.file_samples import SLICE_MISSING, FileSamples
from harness.stats.run_data import RunData, load_run
from harness.stats.slices import SliceError, TagFilter
from harness.stats.sources import RecordSamples, source_of
from harness.stats.trends import ATTEMPT_TRENDS, attempt_trend_columns
from harness.store.query import count_attempts, run_database
from tests.harness.stats.made_runs import write_run

METRICS = (*ATTEMPT_TRENDS, "latency_with_retries_ms", "error_rate", "goodput_rps")
FIGURES = ("requests_sent", "requests_ok", "requests_failed", "error_rate")

filters = st.lists(
    st.builds(
        TagFilter,
        st.sampled_from(["model", "deployment", "outcome", "fault", "tenant", "workload", "x"]),
        st.sampled_from(["m1", "m2", "d1", "(unknown)", "ok", "none", "http_503", "a", "(none)"]),
        st.booleans(),
    ),
    max_size=2,
)


def _both(root: Path) -> tuple[RunData, RunData]:
    return load_run(root), load_run(root, streamed_above=0)


def _same(found: object, expected: object, where: str) -> None:
    assert (found is None) == (expected is None), where
    if found is not None and expected is not None:
        for name in ("times_s", "values"):
            a, b = getattr(found, name), getattr(expected, name)
            assert a.dtype == b.dtype == np.float64, where
            assert np.array_equal(a, b), f"{where}.{name}"


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(4, 40), filters)
def test_the_files_give_the_records_samples_and_slice_figures(
    seed: int, size: int, chosen: list[TagFilter]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        memory, files = _both(write_run(Path(folder) / "run", seed, size).root)
        assert memory.records and files.records is None and files.files is not None
        assert files.plan_sha256 == memory.plan_sha256
        records, queried = RecordSamples(memory), source_of(files)
        for metric in METRICS:
            _same(queried.samples(metric, chosen), records.samples(metric, chosen), metric)
        _same(queried.samples("cache_hit_rate", ()), records.samples("cache_hit_rate", ()), "c")
        expected = records.figures(chosen).summary
        found = queried.figures(chosen).summary
        assert {k: found[k] for k in FIGURES} == {k: expected[k] for k in FIGURES}


EDGES = (
    ("tenant", "(none)", False),  # an empty or missing planned tag
    ("tenant", "(none)", True),
    ("workload", "(none)", False),
    ("x", "(none)", False),  # a tag no request has
    ("model", "(unknown)", False),  # unplanned, and the final attempt names none
    ("model", "m2", True),
    ("deployment", "(unknown)", False),
    ("fault", "none", False),  # None or empty on the final attempt
    ("fault", "http_503", True),
    ("outcome", "ok", True),
)


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunData, RunData]:
    return _both(write_run(tmp_path_factory.mktemp("edges") / "run", 21, 80).root)


@pytest.mark.parametrize(("tag", "value", "negate"), EDGES)
def test_each_filter_edge_selects_the_same_requests(
    edge_run: tuple[RunData, RunData], tag: str, value: str, negate: bool
) -> None:
    chosen = (TagFilter(tag, value, negate),)
    records, queried = RecordSamples(edge_run[0]), source_of(edge_run[1])
    expected = records.figures(chosen).summary
    assert {k: queried.figures(chosen).summary[k] for k in FIGURES} == {
        k: expected[k] for k in FIGURES
    }
    for metric in ("error_rate", "ttft_ms"):
        _same(queried.samples(metric, chosen), records.samples(metric, chosen), metric)
    if (tag, value) in (("tenant", "(none)"), ("fault", "none"), ("deployment", "(unknown)")):
        assert expected["requests_sent"] > 0  # the edge is in the run


def test_the_trend_columns_are_the_views_columns(tmp_path: Path) -> None:
    paths = write_run(tmp_path / "run", 1, 10)
    with run_database(paths) as con:
        columns = {row[0] for row in con.execute("DESCRIBE att_t").fetchall()}
    for name in ATTEMPT_TRENDS:
        population, value = attempt_trend_columns(name)
        assert {population, value} <= columns, name


def test_a_large_run_is_never_read_into_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_run(tmp_path / "run", 2, 30)
    attempts = count_attempts(paths)

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("records read into memory")

    monkeypatch.setattr(harness.stats.run_data, "read_records", refuse)
    monkeypatch.setattr(harness.stats.run_data, "read_jsonl", refuse)
    run = load_run(paths.root, streamed_above=attempts - 1)
    assert run.files == paths and run.records is None and run.plan == ()
    samples = source_of(run).samples("ttft_ms", ())
    assert samples is not None and len(samples.values) == run.summary["ttft_ms"]["count"]
    with pytest.raises(AssertionError, match="into memory"):
        load_run(paths.root, streamed_above=attempts)  # at the threshold: in memory


def test_what_the_files_do_not_give_is_unknown_with_a_reason(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "run", 3, 20).root, streamed_above=0)
    source = FileSamples(run)
    for metric in ("itl_ms", "gateway_overhead_ms", "cost_usd_total", "token_amplification"):
        assert source.samples(metric, ()) is None
        assert "not read from the files" in source.no_samples(metric)
    assert source.samples("cache_hit_rate", (TagFilter("tenant", "a"),)) is None
    assert "whole run only" in source.no_samples("cache_hit_rate")
    sliced = source.figures((TagFilter("tenant", "a"),))
    assert sliced.missing == SLICE_MISSING and "goodput_rps" not in sliced.summary
    assert source.figures(()).summary is run.summary


def test_unreadable_files_are_a_slice_error(tmp_path: Path) -> None:
    paths = write_run(tmp_path / "run", 4, 20)
    run = load_run(paths.root, streamed_above=0)
    for chunk in sorted(paths.records.with_name("records.parquet.d").glob("*.parquet")):
        chunk.write_bytes(b"not parquet")
    with pytest.raises(SliceError, match="cannot query its files"):
        source_of(run).samples("ttft_ms", ())
