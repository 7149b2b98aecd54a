"""A run whose disk fills stops cleanly, says why in one line, and loses no written record;
a run too big for its disk is refused before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import harness.plan_feed
import harness.runner
from harness.contract.records import AttemptRecord, read_jsonl
from harness.store.appender import RecordAppender
from harness.store.chunks import record_batches
from harness.store.schema import from_batch
from harness.upstream_files import RunError
from tests.harness.store.test_store import _FullDisk
from workloads.scenario import parse_scenario


def _scenario(duration: str) -> Any:
    return parse_scenario(
        {
            "name": "disk",
            "seed": 3,
            "duration": duration,
            "drain": "3s",
            "arrival": {"process": "constant", "rate": "20/s"},
            "workload": [{"kind": "stream", "prompt_tokens": 20, "max_tokens": 3}],
            "mock": {
                "deployments": [{"name": "only", "model": "mock-small", "ttft_ms": 1, "itl_ms": 1}]
            },
        },
        "disk",
    )


def test_a_disk_that_fills_mid_run_stops_the_run_and_keeps_its_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class SmallDisk(RecordAppender):
        def __init__(self, path: Path, clock_s: Callable[[], float]) -> None:
            super().__init__(path, clock_s, open_file=lambda p: _FullDisk(p, 6_000))  # type: ignore[arg-type,return-value]

    monkeypatch.setattr(harness.runner, "RecordAppender", SmallDisk)
    warnings: list[str] = []
    result = harness.runner.execute(
        _scenario("4s"), tmp_path, "full", progress=False, warn=warnings.append
    )
    manifest = json.loads(result.paths.manifest.read_text())
    assert "the disk is full" in manifest["store_error"]
    assert warnings == [manifest["store_error"]]
    assert manifest["store_error"] in result.summary["notes"]
    assert not result.interrupted  # stopped by the disk, not by Ctrl-C
    written = list(read_jsonl(result.paths.records, AttemptRecord))
    assert 0 < len(written) < 80  # stopped long before the 80 planned requests
    assert [r for b in record_batches(result.paths.records) for r in from_batch(b)] == written
    assert result.summary["client_attempts"] == len(written)


def test_a_disk_that_fills_mid_run_stops_every_locust_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Locust the master writes the records; when the disk refuses one it stops every
    worker as for a Ctrl-C, instead of letting them send into a sink that keeps nothing."""
    from harness.locust.run import LocustOptions

    class SmallDisk(RecordAppender):
        def __init__(self, path: Path, clock_s: Callable[[], float]) -> None:
            super().__init__(path, clock_s, open_file=lambda p: _FullDisk(p, 6_000))  # type: ignore[arg-type,return-value]

    monkeypatch.setattr(harness.runner, "RecordAppender", SmallDisk)
    warnings: list[str] = []
    result = harness.runner.execute(
        _scenario("20s"),
        tmp_path,
        "full",
        progress=False,
        warn=warnings.append,
        locust=LocustOptions(workers=1),
    )
    manifest = json.loads(result.paths.manifest.read_text())
    assert "the disk is full" in manifest["store_error"]
    assert warnings == [manifest["store_error"]]
    assert not result.interrupted
    # Stopped soon after the disk filled (6,000 bytes: a few dozen records), not after the
    # 20 s the plan lasts; the worker's unsent requests came back as records too.
    assert manifest["wall_s"] < 15.0
    written = list(read_jsonl(result.paths.records, AttemptRecord))
    assert 0 < len(written) < manifest["locust"]["workers"][0]["records"]


def test_a_run_too_big_for_its_disk_is_refused_before_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        harness.plan_feed, "check_free_space", _tiny_disk(harness.plan_feed.check_free_space)
    )
    with pytest.raises(RunError) as caught:
        harness.runner.execute(_scenario("1s"), tmp_path, "big", progress=False)
    assert "MB free" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "big" / "records.jsonl").exists()


def _tiny_disk(check: Callable[..., None]) -> Callable[..., None]:
    return lambda root, attempts, tokens: check(root, attempts, tokens, free_bytes=lambda _: 1000)
