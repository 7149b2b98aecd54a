"""The Locust engine as separate processes on loopback: a master waiting for K ``tokenstorm
worker`` processes (with Locust's live UI), a master whose workers never come (it exits
saying so, sending nothing), a worker of another version or plan (refused in one line), and
Ctrl-C on the master (every worker stops, the report is still written)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil
import pytest

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import LiveStats
from harness.locust.master import Master

TOKENSTORM = [sys.executable, "-m", "harness.cli.main"]


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tiny(folder: Path, duration: str) -> str:
    """A small, fast scenario against the embedded mock (short answers, no faults)."""
    path = folder / "tiny.toml"
    path.write_text(
        f'name = "tiny"\nseed = 3\nduration = "{duration}"\ndrain = "2s"\n'
        'arrival = { process = "poisson", rate = "20/s" }\n'
        'workload = [{ kind = "stream", prompt_tokens = 50, max_tokens = 8 }]\n'
        '[mock]\ndeployments = [{ name = "only", model = "mock-small", ttft_ms = 20, '
        "itl_ms = 5, output_tokens = 8, output_tokens_sigma = 0 }]\n"
    )
    return str(path)


def _run(out: Path, run_id: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *TOKENSTORM,
            "run",
            "--out",
            str(out),
            "--run-id",
            run_id,
            "--no-progress",
            "--engine",
            "locust",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ids(path: Path, kind: type[PlannedRequest] | type[AttemptRecord]) -> set[str]:
    return {json.loads(line)["request_id"] for line in path.read_text().splitlines()}


def _watch_ui(port: int, master: subprocess.Popen[str]) -> dict[str, object]:
    """Poll Locust's UI until it shows requests per second and a TTFT row."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and master.poll() is None:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/stats/requests", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            time.sleep(0.3)
            continue
        names = {row["name"] for row in body["stats"]}
        if body["total_rps"] > 0 and any(name.endswith("(TTFT)") for name in names):
            return dict(body)
        time.sleep(0.3)
    return {}


@pytest.mark.slow
def test_a_master_starts_when_k_workers_are_in_and_serves_the_ui(tmp_path: Path) -> None:
    port, ui_port = _port(), _port()
    master = _run(
        tmp_path,
        "k2",
        _tiny(tmp_path, "4s"),
        "--expect-workers",
        "2",
        "--master-bind",
        f"127.0.0.1:{port}",
        "--ui",
        str(ui_port),
    )
    time.sleep(1.0)
    workers = [
        subprocess.Popen([*TOKENSTORM, "worker", "--master", f"127.0.0.1:{port}", "--wait", "60"])
        for _ in range(2)
    ]
    seen = _watch_ui(ui_port, master)
    _out, err = master.communicate(timeout=90)
    assert master.returncode == 0, err[-2000:]
    for worker in workers:
        assert worker.wait(timeout=20) == 0
    assert seen, "Locust's UI never showed requests per second and a TTFT row"
    assert seen["fail_ratio"] is not None
    run = tmp_path / "k2"
    assert _ids(run / "records.jsonl", AttemptRecord) == _ids(run / "plan.jsonl", PlannedRequest)
    manifest = json.loads((run / "manifest.json").read_text())
    assert [w["index"] for w in manifest["locust"]["workers"]] == [0, 1]
    assert all(w["host"] and w["clock_offset_s"] is not None for w in manifest["locust"]["workers"])
    report = (run / "report.md").read_text()
    assert "figures come from tokenstorm's attempt records" in report


def test_a_master_whose_workers_never_come_sends_nothing(tmp_path: Path) -> None:
    master = _run(
        tmp_path,
        "none",
        "--duration",
        "3s",
        "--expect-workers",
        "1",
        "--master-bind",
        f"127.0.0.1:{_port()}",
        "--join-timeout",
        "1.5",
    )
    _out, err = master.communicate(timeout=60)
    assert master.returncode not in (0, None)
    assert "0 of 1 workers joined within 1.5 s" in err and "nothing was sent" in err
    assert "Traceback" not in err
    assert (tmp_path / "none" / "records.jsonl").read_text() == ""


def test_a_worker_of_another_version_is_refused_in_one_line() -> None:
    master = Master(1, "127.0.0.1", _port(), lambda record: None, LiveStats())
    sent: list[tuple[str, dict[str, str], str]] = []
    master._send = lambda kind, data, client_id: sent.append((kind, data, client_id))  # type: ignore[method-assign]
    try:
        master._on_hello(None, SimpleNamespace(data={"version": "0.0.0", "host": "h"}, node_id="w"))
    finally:
        master.quit()
    assert not master.nodes
    ((kind, data, client_id),) = sent
    assert kind == "ts_refuse" and client_id == "w"
    assert "0.0.0 on the worker" in data["why"] and "\n" not in data["why"]


@pytest.mark.slow
def test_ctrl_c_on_the_master_stops_every_worker_and_writes_the_report(tmp_path: Path) -> None:
    master = _run(tmp_path, "stop", _tiny(tmp_path, "30s"), "--workers", "2")
    records = tmp_path / "stop" / "records.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (records.exists() and records.stat().st_size):
        time.sleep(0.2)
    time.sleep(1.0)
    workers = [p for p in psutil.Process(master.pid).children() if "worker" in p.cmdline()]
    assert len(workers) == 2
    stopped_at = time.monotonic()
    master.send_signal(signal.SIGINT)
    _out, err = master.communicate(timeout=60)
    assert master.returncode == 130, err[-2000:]
    assert time.monotonic() - stopped_at < 30
    run = tmp_path / "stop"
    assert (run / "report.html").exists() and (run / "summary.json").exists()
    assert _ids(records, AttemptRecord) == _ids(run / "plan.jsonl", PlannedRequest)
    outcomes = {json.loads(line)["outcome"] for line in records.read_text().splitlines()}
    assert "cancelled" in outcomes and "dropped" not in outcomes  # stopped, not lost
    assert not any(worker.is_running() for worker in workers)  # the master reaped them


def test_a_worker_refuses_a_window_whose_hash_differs_in_one_line() -> None:
    from harness.contract.records import PlannedMessage
    from harness.locust.protocol import encode_plan, plan_hash
    from harness.locust.worker import _Worker

    plan = [
        PlannedRequest(
            "s1-t1",
            "s1",
            1,
            0.0,
            0.0,
            1,
            1,
            "m",
            "openai-chat",
            True,
            (PlannedMessage("user", content="hi"),),
        )
    ]
    sent: list[tuple[str, dict[str, str]]] = []
    worker = _Worker(SimpleNamespace(send_message=lambda kind, data: sent.append((kind, data))))
    window = {"lines": encode_plan(plan), "settings": {}, "last": True}
    worker.on_setup(None, SimpleNamespace(data={**window, "hash": "0" * 16}))
    ((kind, data),) = sent
    assert kind == "ts_bad" and "plan hash differs" in data["why"] and "\n" not in data["why"]
    assert worker.exit_code == 2 and worker.finished.is_set()
    # The same window with its own hash is taken: the worker measures its clock (the pongs
    # say the master's clock is 2 s ahead, the round trip with the least delay wins).
    sent.clear()
    good = _Worker(SimpleNamespace(send_message=lambda kind, data: sent.append((kind, data))))
    for rtt_s in (0.5, 0.01, 0.3, 0.2, 0.4):
        good._pongs.put(
            {
                "t0": 100.0,
                "tm": 102.0 + rtt_s / 2 + (0.1 if rtt_s > 0.01 else 0),
                "t1": 100.0 + rtt_s,
            }
        )
    good.on_setup(None, SimpleNamespace(data={**window, "hash": plan_hash(plan)}))
    kinds = [kind for kind, _ in sent]
    assert kinds == ["ts_ping"] * 5 + ["ts_ready"]
    ready = sent[-1][1]
    assert ready["requests"] == 1 and abs(ready["offset_s"] - 2.0) < 1e-9
    # A later window whose hash differs is refused too, and the worker ends.
    sent.clear()
    good.on_window(None, SimpleNamespace(data={**window, "hash": "1" * 16}))
    ((kind, data),) = sent
    assert kind == "ts_bad" and "plan hash differs" in data["why"]
    assert good.exit_code == 2 and good.finished.is_set()
