"""The live figures of a Locust run are the master's: every record a worker's batch carries is
counted as it is written, the counters are the workers' latest summed (in flight: as of each
worker's last batch; a lost worker's attempts are no longer in flight), and the requests the
master itself records ``dropped`` for a lost worker stay counted when later batches come."""

from __future__ import annotations

import dataclasses
import socket
import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.contract.records import AttemptRecord, to_json_line
from harness.engine_config import LiveStats
from harness.locust import protocol
from harness.locust.master import Master
from harness.watch.live import LiveFigures, LiveServer
from workloads.planner import build_plan
from workloads.scenario import parse_scenario

OK = AttemptRecord(
    request_id="r",
    session_id="s",
    turn=1,
    attempt=1,
    scheduled_s=1.0,
    sent_s=1.0,
    first_byte_s=1.01,
    first_token_s=1.02,
    done_s=1.1,
    status_code=200,
    outcome="ok",
    prompt_tokens=10,
    completion_tokens=4,
    cached_tokens=0,
    usage_source="server",
    model="m",
    deployment="d",
    error_detail=None,
)
_TINY = {
    "seed": 1,
    "duration": 2.0,
    "arrival": {"rate": 3},
    "workload": [{"kind": "stream", "prompt_tokens": 5, "max_tokens": 2}],
}


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stats(**counters: int) -> dict[str, Any]:
    return protocol.stats_json(LiveStats(**counters))


def _batch(master: Master, node_id: str, records: list[AttemptRecord], **counters: int) -> None:
    lines = b"".join(to_json_line(r) for r in records)
    message = SimpleNamespace(node_id=node_id, data={"lines": lines, "stats": _stats(**counters)})
    master._on_records(None, message)


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5.0) as answer:
        text = answer.read().decode()
    return {
        sample.name + "".join(f"{{{v}}}" for v in sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def master() -> Any:
    master = Master(2, "127.0.0.1", _port(), lambda record: None, LiveStats())
    try:
        yield master
    finally:
        master.quit()


def test_the_master_serves_its_workers_records_and_counters(
    master: Master, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[AttemptRecord] = []
    figures = LiveFigures(master.stats, None, lambda: 2.5)

    def sink(record: AttemptRecord) -> None:
        written.append(record)
        figures.observe(record)

    master.sink = sink
    for node_id in ("w0", "w1"):
        hello = {"version": protocol.version(), "host": node_id}
        master._on_hello(None, SimpleNamespace(data=hello, node_id=node_id))
    monkeypatch.setattr(master.runner, "clients", {"w0": SimpleNamespace(state="running")})
    plan = build_plan(parse_scenario(_TINY))
    assert len(plan) >= 4
    master.nodes["w1"].outstanding = {r.request_id: r for r in plan}  # dealt, sent
    server = LiveServer(figures, 0)
    try:
        failed = dataclasses.replace(OK, request_id="r2", outcome="http_5xx", status_code=500)
        _batch(master, "w0", [OK, failed], sent=2, ok=1, in_flight=2, requests_done=1)
        first = dataclasses.replace(OK, request_id=plan[0].request_id)
        _batch(master, "w1", [first], sent=1, ok=1, in_flight=1, requests_done=1, dropped=1)
        during = _scrape(server.port)
        master.check_lost(lambda node: None, 2.0)  # w1 is gone from Locust's clients
        _batch(master, "w0", [], sent=2, ok=1, in_flight=1, requests_done=2)
        after = _scrape(server.port)
    finally:
        server.close()
    assert during["tokenstorm_attempts_total{ok}"] == 2
    assert during["tokenstorm_attempts_total{http_5xx}"] == 1
    assert during["tokenstorm_in_flight"] == 3  # both workers' latest, summed
    assert during["tokenstorm_requests_done_total"] == 2
    assert during["tokenstorm_requests_dropped_total"] == 1
    lost = len(plan) - 1  # w1's requests without a record, recorded here
    assert master.nodes["w1"].lost is not None and master.nodes["w0"].lost is None
    assert sum(v for k, v in after.items() if k.startswith("tokenstorm_attempts_total")) == len(
        written
    )
    assert after["tokenstorm_attempts_total{dropped}"] == lost
    assert after["tokenstorm_requests_dropped_total"] == 1 + lost  # not lost to w0's batch
    assert after["tokenstorm_in_flight"] == 1  # w0's latest; the lost w1's count no more
    assert after["tokenstorm_requests_done_total"] == 3
    assert after["tokenstorm_run_clock_seconds"] == 2.5
