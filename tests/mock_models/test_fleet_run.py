"""``tokenstorm run`` against a mock of two workers: a seeded run's ledger holds exactly the
client's attempts; a worker killed mid-run is restarted, the attempts it had open are in the
ledger as ``reset`` (fault ``worker_died``), and the summary and report say so; a worker that
falls behind (stopped for 0.4 s: lag injected, not load) makes the run invalid, fleet-wide."""

from __future__ import annotations

import os
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from harness.contract.ledger import WORKER_DIED_FAULT
from harness.contract.records import AttemptRecord, LedgerEntry, from_dict
from harness.engine_config import LiveStats
from harness.runner import execute
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings
from workloads.scenario import parse_scenario

# Streams of 0.6 s: at 30/s about 18 are open at any time, half on each worker.
_SETTINGS = MockSettings(
    seed=5,
    deployments=(
        DeploymentSettings(
            name="slow",
            model="mock-small",
            ttft_ms=1.0,
            prefill_ms_per_token=0.0,
            itl_ms=20.0,
            output_tokens=30,
            output_tokens_sigma=0.0,
        ),
    ),
)


def _scenario(mock: EmbeddedMock, name: str, attempts: int = 1) -> Any:
    return parse_scenario(
        {
            "name": name,
            "seed": 5,
            "duration": "2s",
            "drain": "5s",
            "arrival": {"process": "constant", "rate": "30/s"},
            "workload": [{"kind": "stream", "prompt_tokens": 20, "max_tokens": 30}],
            "target": {"url": mock.api_url, "ledger": mock.ledger_url, "timeout": "5s"},
            "client": {
                "retry": {"attempts": attempts, "backoff": {"base": "0.01s", "max": "0.02s"}}
            },
        },
        name,
    )


def _ready(mock: EmbeddedMock) -> list[dict[str, int]]:
    with urllib.request.urlopen(mock.base_url + "/ready", timeout=5) as response:
        workers: list[dict[str, int]] = orjson.loads(response.read())["workers"]
        return workers


def _read(path: Path, kind: type[Any]) -> list[Any]:
    return [from_dict(kind, orjson.loads(line)) for line in path.read_bytes().splitlines()]


class _KillAfter:
    """An abort check that never aborts: past ``after_s`` into the run it kills ``pid``."""

    def __init__(self, pid: int, after_s: float) -> None:
        self.pid, self.after_s, self.killed = pid, after_s, False

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        if elapsed_s >= self.after_s and not self.killed:
            os.kill(self.pid, signal.SIGKILL)
            self.killed = True
        return None


def _key(entry: AttemptRecord | LedgerEntry) -> tuple[str | None, int | None]:
    return entry.request_id, entry.attempt


def test_a_seeded_run_across_workers_has_each_attempt_in_the_ledger_once(tmp_path: Path) -> None:
    """With seeded 500s and the client retrying them: more attempts than requests, each in
    the ledger exactly once, with the fault it got."""
    flaky = MockSettings.model_validate(
        {**_SETTINGS.model_dump(), "faults": {"rule": [{"kind": "http_500", "probability": 0.3}]}}
    )
    with EmbeddedMock(flaky, workers=2) as mock:
        result = execute(_scenario(mock, "fleet", attempts=3), tmp_path, "fleet", progress=False)
        workers = _ready(mock)
    records = _read(result.paths.records, AttemptRecord)
    ledger = _read(result.paths.ledger, LedgerEntry)
    assert result.summary["requests_sent"] == 60 and len(records) > 60  # retries happened
    assert sorted(map(_key, ledger)) == sorted(map(_key, records))  # exactly, each once
    assert result.summary["upstream_attempts"] == len(records)
    outcome = {_key(r): r.outcome for r in records}
    assert all(outcome[_key(e)] == e.outcome for e in ledger)  # the same story at both ends
    assert any(e.fault == "http_500" for e in ledger)
    assert all(w["restarts"] == 0 for w in workers)


def test_a_worker_killed_mid_run_leaves_reset_lines_and_a_report_saying_so(
    tmp_path: Path,
) -> None:
    with EmbeddedMock(_SETTINGS, workers=2) as mock:
        victim = _ready(mock)[1]
        killer = _KillAfter(victim["pid"], 1.0)
        result = execute(
            _scenario(mock, "killed"), tmp_path, "killed", progress=False, abort_check=killer
        )
        after = _ready(mock)[1]
        stderr = mock.stderr_text()
    assert killer.killed
    assert after["restarts"] == victim["restarts"] + 1 and after["pid"] != victim["pid"]
    records = _read(result.paths.records, AttemptRecord)
    ledger = _read(result.paths.ledger, LedgerEntry)
    died = [e for e in ledger if e.fault == WORKER_DIED_FAULT]
    assert died and all(e.outcome == "reset" and e.completion_tokens == 0 for e in died)
    # Each line once, each a client attempt that failed in transport there.
    keys = list(map(_key, ledger))
    assert len(set(keys)) == len(keys)
    failed = {_key(r): r.outcome for r in records}
    assert all(failed.get(_key(e)) in ("reset", "stream_cut", "protocol_error") for e in died)
    # Every attempt the mock received is in its ledger; the client's others (sent on a
    # connection the dead worker held but had not read) failed in transport too.
    missing = [r for r in records if _key(r) not in set(keys)]
    assert all(r.outcome in ("reset", "stream_cut", "connect_error") for r in missing)
    note = next(n for n in result.summary["notes"] if WORKER_DIED_FAULT in n)
    assert f"{len(died)} attempt" in note
    assert WORKER_DIED_FAULT in result.paths.report_md.read_text()
    assert result.summary["ledger_source"]["upstream"] == "mock"
    assert (
        f"worker 1 (pid {victim['pid']}) exited with code -9; {len(died)} attempt"
        f"{'s' if len(died) > 1 else ''} open on it recorded in the ledger as reset; "
        "restarting it (restart 1)"
    ) in stderr


class _StallAfter:
    """An abort check that never aborts: past ``after_s`` into the run it stops ``pid`` (its
    loop, timers and all) for ``stall_s``, so its tokens due meanwhile go out late."""

    def __init__(self, pid: int, after_s: float, stall_s: float) -> None:
        self.pid, self.after_s = pid, after_s
        self.resume = threading.Timer(stall_s, os.kill, (pid, signal.SIGCONT))

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        if (
            elapsed_s >= self.after_s
            and not self.resume.is_alive()
            and not self.resume.finished.is_set()
        ):
            os.kill(self.pid, signal.SIGSTOP)
            self.resume.start()
        return None


def _lag_count(text: str, le: str) -> float:
    """The mock_lag_seconds bucket ``le`` of a Prometheus text (one deployment)."""
    prefix = "tokenstorm:mock_lag_seconds_bucket{"
    line = next(x for x in text.splitlines() if x.startswith(prefix) and f'le="{le}"' in x)
    return float(line.rsplit(" ", 1)[1])


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_a_worker_behind_its_schedule_makes_the_run_invalid(tmp_path: Path) -> None:
    with EmbeddedMock(_SETTINGS, workers=2) as mock:
        workers = _ready(mock)
        stall = _StallAfter(workers[0]["pid"], 1.0, 0.4)
        try:
            result = execute(
                _scenario(mock, "behind"), tmp_path, "behind", progress=False, abort_check=stall
            )
        finally:
            stall.resume.join(5)
            os.kill(workers[0]["pid"], signal.SIGCONT)
        own = [_metrics(f"http://127.0.0.1:{w['admin_port']}") for w in workers]
        fleet = _metrics(mock.base_url)
    assert stall.resume.finished.is_set()
    summary = result.summary
    assert summary["upstream_lag_ms"]["p99"] > 50.0  # the stopped worker's, in the merged ledger
    assert not summary["valid"]
    assert any(n.startswith("upstream lag p99") for n in summary["validity_notes"])
    # Fleet-wide metrics too: the lag histogram sums the workers', the stopped one's late.
    late = [_lag_count(text, "+Inf") - _lag_count(text, "0.04") for text in own]
    assert late[0] > 0
    assert _lag_count(fleet, "+Inf") == sum(_lag_count(text, "+Inf") for text in own)
