"""The bounded-memory summary's cost, upstream, gateway-cache figures and ``by_*`` splits are
the in-memory summary's: on hand-made runs with ledgers of every shape ``correlate`` handles,
on a synthesised run of the size benchmarks use (``bench/synth_run.py``), and a ledger that
is not JSON gets a one-line error naming it."""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.rebuild
from harness.contract.records import LedgerEntry, PlannedRequest, read_jsonl
from harness.contract.terms import Slo
from harness.run_dir import RunPaths
from harness.store.chunks import read_records
from tests.harness.store.handmade_run import (
    UNPRICED,
    attempts,
    compare,
    inputs_of,
    ledger_of,
    planned,
    same,
    write_run,
)

ROOT = Path(__file__).resolve().parents[3]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 50),
    st.booleans(),
    st.sampled_from(["embedded", "option", "unknown"]),
    st.sampled_from([None, 0.8, 0.9]),
)
def test_a_hand_made_run_with_a_ledger_gives_the_same_figures(
    seed: int, size: int, unpriced: bool, origin: str, threshold: float | None
) -> None:
    rng = np.random.default_rng(seed)
    plan = [planned(i, rng, unpriced) for i in range(size)]
    records = attempts(size, rng, varied=True)
    ledger = ledger_of(records, rng, unpriced)
    with tempfile.TemporaryDirectory() as folder:
        paths, appender = write_run(Path(folder), plan, records, ledger)
        inputs = inputs_of(
            plan,
            records,
            Slo(ttft=0.15),
            ledger,
            ledger_origin=origin,
            ledger_url="http://127.0.0.1:9/tokenstorm/ledger",
            threshold=threshold,
        )
        streamed = compare(paths, inputs)
        appender.close()
    assert streamed["cost_source"] == "ledger"
    assert streamed["upstream_attempts"] == sum(1 for e in ledger if e.run_id in ("x", None))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_an_unpriced_model_leaves_cost_unknown_and_named(seed: int, size: int) -> None:
    """Without a ledger, every request asking for a model nobody prices: cost is null, never
    0, in both summaries alike, and the model is named."""
    rng = np.random.default_rng(seed)
    # Every plan line asks for it: an answer naming no model is billed as the plan's.
    plan = [planned(i, rng) for i in range(size)]
    plan = [p.__class__(**{**_fields(p), "model": UNPRICED}) for p in plan]
    records = [
        r if r.model is None else r.__class__(**{**_fields(r), "model": UNPRICED})
        for r in attempts(size, rng)
    ]
    with tempfile.TemporaryDirectory() as folder:
        paths, appender = write_run(Path(folder), plan, records)
        streamed = compare(paths, inputs_of(plan, records, Slo()))
        appender.close()
    # An attempt bills when it ended ok or generated tokens, and costs only if it has tokens
    # (harness.cost.billed_tokens): one billing none costs 0 whatever its price.
    billed = any(
        r.sent_s is not None
        and (r.completion_tokens or r.outcome == "ok")
        and ((r.prompt_tokens or 0) > 0 or (r.completion_tokens or 0) > 0)
        for r in records
    )
    if billed:
        assert streamed["cost_usd_total"] is None and streamed["wasted_cost_usd"] is None
        assert any(UNPRICED in label for label in streamed["unpriced_models"])


def _fields(record: object) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]


def _synth_run_module() -> object:
    spec = importlib.util.spec_from_file_location("synth_run", ROOT / "bench" / "synth_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_synthesised_run_reports_the_same_figures_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tokenstorm report``'s two paths on the benchmarks' synthetic run (ledger, retries,
    one model): with the threshold lowered, the large-run path gives every figure."""
    paths = RunPaths(tmp_path / "run")
    attempts_n = _synth_run_module().synthesise(paths.root, 3000, jsonl=True)  # type: ignore[attr-defined]
    in_memory = harness.rebuild.rebuild_run(paths, reports=False)
    monkeypatch.setattr(harness.rebuild, "STREAMED_ABOVE_ATTEMPTS", 100)
    bounded = harness.rebuild.rebuild_run(paths, reports=False)
    assert in_memory["cost_source"] == "ledger" and in_memory["gateway_cache"] is not None
    assert in_memory["by_workload"] and in_memory["cost_usd_total"] > 0
    assert bounded["upstream_attempts"] == attempts_n
    bounded_notes = [
        n for n in bounded.pop("notes") if "bounded memory" not in n and "charts" not in n
    ]
    assert bounded_notes == in_memory.pop("notes")
    same(in_memory, bounded)


def test_the_same_figures_when_the_ledger_is_read_back_from_its_file(tmp_path: Path) -> None:
    """What the files hold (after a JSON round trip) is what both summaries read."""
    rng = np.random.default_rng(3)
    plan = [planned(i, rng, unpriced=False) for i in range(20)]
    records = attempts(20, rng, varied=True)
    paths, appender = write_run(tmp_path, plan, records, ledger_of(records, rng))
    appender.close()
    inputs = inputs_of(
        list(read_jsonl(paths.plan, PlannedRequest)),
        read_records(paths.records),
        Slo(),
        list(read_jsonl(paths.ledger, LedgerEntry)),
    )
    compare(paths, inputs)


def test_a_ledger_that_is_not_json_gets_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = RunPaths(tmp_path / "run")
    _synth_run_module().synthesise(paths.root, 300)  # type: ignore[attr-defined]
    with paths.ledger.open("a") as ledger:
        ledger.write("{not json\n")
    monkeypatch.setattr(harness.rebuild, "STREAMED_ABOVE_ATTEMPTS", 100)
    with pytest.raises(harness.rebuild.RebuildError) as caught:
        harness.rebuild.rebuild_run(paths, reports=False)
    message = str(caught.value)
    assert "\n" not in message and "ledger.jsonl" in message


def test_a_large_run_has_the_fault_windows_a_run_in_memory_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The synthesised run with a fault profile: both paths give the same window figures."""
    paths = RunPaths(tmp_path / "run")
    _synth_run_module().synthesise(paths.root, 300, jsonl=True)  # type: ignore[attr-defined]
    manifest = json.loads(paths.manifest.read_text())
    manifest["fault_profile"] = {"rule": [{"kind": "error", "window": {"start": 0.1, "end": 0.2}}]}
    paths.manifest.write_text(json.dumps(manifest))
    in_memory = harness.rebuild.rebuild_run(paths, reports=False)["fault_windows"]
    monkeypatch.setattr(harness.rebuild, "STREAMED_ABOVE_ATTEMPTS", 100)
    bounded = harness.rebuild.rebuild_run(paths, reports=False)
    same(in_memory, bounded["fault_windows"])
    assert not any("not computed" in n and "fault_windows" in n for n in bounded["notes"])
