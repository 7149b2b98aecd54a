"""The master streams the plan: units dealt in windows ahead of their offsets (every request
once, a unit whole on one worker, each window with the hash of its lines), the plan drawn no
further than shipped; a lost worker's requests sent and not recorded become ``dropped``
naming it while later windows go to the workers alive; with every worker lost, no more is
drawn; and over an hour-long plan the master holds only the window ahead and what is in
flight, never the plan. Workers are played in process: no Locust worker, no clock."""

from __future__ import annotations

import dataclasses
import gc
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from harness.contract.records import AttemptRecord, PlannedRequest, read_jsonl, to_json_line
from harness.engine_config import LiveStats
from harness.locust import protocol
from harness.locust.deal import Unit
from harness.locust.master import Master
from harness.plan_feed import open_loop_feed
from workloads.plan_stream import iter_units
from workloads.scenario import Scenario, parse_scenario

RECORD = AttemptRecord(
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
    prompt_tokens=5,
    completion_tokens=2,
    cached_tokens=0,
    usage_source="server",
    model="m",
    deployment="d",
    error_detail=None,
)


def _scenario(duration_s: float, rate: float, model: str = "m") -> Scenario:
    return parse_scenario(
        {
            "seed": 5,
            "duration": duration_s,
            "arrival": {"rate": rate},
            "target": {"model": model},
            "workload": [
                {"kind": "stream", "prompt_tokens": 5, "max_tokens": 2},
                {
                    "kind": "agent_loop",
                    "turns": {"dist": "constant", "value": 2},
                    "subagents": {"probability": 0.5, "turns": {"dist": "constant", "value": 2}},
                },
            ],
        }
    )


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class _Fleet:
    """Workers played in process: what the master sent each, read back from the lines."""

    master: Master
    #: Per worker: (request id, offset, session, spawned_by) of every request it was sent.
    got: dict[str, list[tuple[str, float, str, str]]] = dataclasses.field(default_factory=dict)
    lasts: dict[str, int] = dataclasses.field(default_factory=dict)
    kinds: list[str] = dataclasses.field(default_factory=list)

    def send(self, kind: str, data: dict[str, Any], client_id: str) -> None:
        self.kinds.append(kind)
        if kind not in ("ts_setup", "ts_window"):
            return
        assert protocol.lines_hash(data["lines"]) == data["hash"]
        for line in data["lines"].splitlines():
            r = orjson.loads(line)
            row = (r["request_id"], r["offset_s"], r["session_id"], r.get("spawned_by", ""))
            self.got.setdefault(client_id, []).append(row)
        self.lasts[client_id] = self.lasts.get(client_id, 0) + bool(data["last"])

    def record(self, client_id: str, request_ids: list[str]) -> None:
        """The worker sends one ``ok`` record for each of ``request_ids``."""
        lines = b"".join(
            to_json_line(dataclasses.replace(RECORD, request_id=i)) for i in request_ids
        )
        stats = protocol.stats_json(LiveStats())
        message = SimpleNamespace(node_id=client_id, data={"lines": lines, "stats": stats})
        self.master._on_records(None, message)


@pytest.fixture
def fleet() -> Iterator[_Fleet]:
    written: list[AttemptRecord] = []
    master = Master(2, "127.0.0.1", _port(), written.append, LiveStats())
    fleet = _Fleet(master)
    master._send = fleet.send  # type: ignore[method-assign]
    for node_id in ("w0", "w1"):
        hello = {"version": protocol.version(), "host": node_id}
        master._on_hello(None, SimpleNamespace(data=hello, node_id=node_id))
    try:
        yield fleet
    finally:
        master.quit()


def _counted(units: Iterator[Unit], drawn: list[int]) -> Iterator[Unit]:
    for unit in units:
        drawn.append(len(unit))
        yield unit


def _first(row: tuple[str, float, str, str]) -> bool:
    """The row is a unit's first request (a root session's first turn)."""
    return row[0].endswith("-t1") and not row[3]


def test_windows_carry_every_request_once_ahead_of_its_offset(fleet: _Fleet) -> None:
    scenario = _scenario(30.0, 4.0)
    plan = [r for unit in iter_units(scenario) for r in unit]
    drawn: list[int] = []
    master = fleet.master
    master.hand_out(_counted(iter_units(scenario), drawn), {"duration_s": 30.0}, 10.0)
    assert fleet.kinds == ["ts_setup", "ts_setup"]
    firsts = [row for rows in fleet.got.values() for row in rows if _first(row)]
    assert firsts and max(row[1] for row in firsts) < 10.0
    assert sum(drawn) < len(plan) // 2  # the rest is not drawn yet
    for clock_s in range(31):
        master.ship(clock_s + 10.0)
        firsts = [row for got in fleet.got.values() for row in got if _first(row)]
        assert all(row[1] < clock_s + 10.0 for row in firsts)
    sent = [row for rows in fleet.got.values() for row in rows]
    assert sorted(row[0] for row in sent) == sorted(r.request_id for r in plan)
    assert fleet.lasts == {"w0": 1, "w1": 1}  # each told once that no more comes
    where = {row[2]: client for client, rows in fleet.got.items() for row in rows}
    for request in plan:  # a sub-agent on its parent's worker
        if request.spawned_by:
            assert where[request.session_id] == where[request.spawned_by.rsplit("-t", 1)[0]]
    nodes = master.nodes
    assert [nodes[c].assigned for c in ("w0", "w1")] == [len(fleet.got[c]) for c in ("w0", "w1")]
    assert abs(nodes["w0"].assigned - nodes["w1"].assigned) <= 6  # balanced
    master.ship(100.0)
    assert len([row for rows in fleet.got.values() for row in rows]) == len(plan)  # no repeats


def test_a_lost_workers_requests_are_dropped_and_later_windows_go_to_the_rest(
    fleet: _Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[AttemptRecord] = []
    master = fleet.master
    master.sink = written.append
    scenario = _scenario(30.0, 4.0)
    plan = [r for unit in iter_units(scenario) for r in unit]
    master.hand_out(iter_units(scenario), {"duration_s": 30.0}, 10.0)
    w1_before = list(fleet.got["w1"])
    # w1 records its first few, then its process is gone (Locust no longer knows it).
    fleet.record("w1", [row[0] for row in w1_before[:3]])
    monkeypatch.setattr(master.runner, "clients", {"w0": SimpleNamespace(state="running")})
    master.check_lost(lambda node: None, 5.0)
    assert master.nodes["w1"].lost is not None
    dropped = [r for r in written if r.outcome == "dropped"]
    assert sorted(r.request_id for r in dropped) == sorted(row[0] for row in w1_before[3:])
    assert all(r.error_detail and "worker 1 (w1) lost mid-run" in r.error_detail for r in dropped)
    for clock_s in range(31):
        master.ship(clock_s + 10.0)
    assert fleet.got["w1"] == w1_before  # nothing more for the lost worker
    assert master.nodes["w1"].assigned == len(w1_before)
    fleet.record("w0", [row[0] for row in fleet.got["w0"]])
    # Planned = recorded: every request recorded once, by w0, w1 or as dropped here.
    assert sorted(r.request_id for r in written) == sorted(r.request_id for r in plan)
    assert master.nodes["w0"].outstanding == {} and master.nodes["w1"].outstanding == {}


def test_with_every_worker_lost_no_more_of_the_plan_is_drawn(
    fleet: _Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[AttemptRecord] = []
    master = fleet.master
    master.sink = written.append
    drawn: list[int] = []
    master.hand_out(_counted(iter_units(_scenario(30.0, 4.0)), drawn), {"duration_s": 30.0}, 5.0)
    before = len(drawn)
    monkeypatch.setattr(master.runner, "clients", {})
    master.check_lost(lambda node: None, 1.0)
    master.ship(30.0)
    assert len(drawn) == before
    assert master.finished()
    # The unit drawn to look ahead is planned too: it is recorded as never started.
    master.close_plan()
    assert len(written) == sum(drawn)
    held = written[-drawn[-1] :]
    assert {r.outcome for r in held} == {"cancelled"}
    assert {r.outcome for r in written[: -drawn[-1]]} == {"dropped"}


def test_after_a_stop_nothing_more_is_sent_or_drawn(fleet: _Fleet) -> None:
    drawn: list[int] = []
    master = fleet.master
    master.hand_out(_counted(iter_units(_scenario(30.0, 4.0)), drawn), {"duration_s": 30.0}, 5.0)
    before, kinds = len(drawn), len(fleet.kinds)
    master.stop_all(5.0)
    master.ship(30.0)
    assert len(drawn) == before
    assert fleet.kinds[kinds:] == ["ts_stop", "ts_stop"]


def test_a_window_refused_mid_run_loses_the_worker(
    fleet: _Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    master = fleet.master
    master.hand_out(iter_units(_scenario(10.0, 4.0)), {"duration_s": 10.0}, 5.0)
    monkeypatch.setattr(
        master.runner, "clients", {c: SimpleNamespace(state="running") for c in ("w0", "w1")}
    )
    bad = SimpleNamespace(node_id="w0", data={"why": "plan hash differs: worker a, master b"})
    master._on_bad(None, bad)
    master.check_lost(lambda node: None, 2.0)
    lost = master.nodes["w0"].lost
    assert lost is not None and "refused a window" in lost and master.nodes["w1"].lost is None


@pytest.mark.slow
def test_over_an_hour_long_plan_the_master_holds_a_window_not_the_plan(
    fleet: _Fleet, tmp_path: Path
) -> None:
    """An hour at 10 sessions/s (about 50k requests), shipped 10 s ahead every second; each
    worker records a request 5 s after its offset. Every 10 minutes the planned requests
    alive in this process are counted: a plan held whole (or the recorded ids kept) fails."""
    model = "master-heap"
    feed = open_loop_feed(_scenario(3600.0, 10.0, model), tmp_path / "plan.jsonl", 60.0)
    master = fleet.master
    written: list[str] = []
    master.sink = lambda record: written.append(record.request_id)
    alive: list[int] = []
    pending: dict[str, list[tuple[float, str]]] = {"w0": [], "w1": []}
    seen = {"w0": 0, "w1": 0}
    master.hand_out(feed.units(), {"duration_s": 3600.0}, 10.0)
    for clock_s in range(3620):
        master.ship(clock_s + 10.0)
        for client, rows in fleet.got.items():  # the fake workers keep ids and offsets only
            pending[client].extend((row[1], row[0]) for row in rows[seen[client] :])
            seen[client] = len(rows)
            rows.clear()
            seen[client] = 0
            due = [i for offset_s, i in pending[client] if offset_s < clock_s - 5.0]
            if due:
                pending[client] = [p for p in pending[client] if p[0] >= clock_s - 5.0]
                fleet.record(client, due)
        if clock_s % 600 == 300:
            gc.collect()
            alive.append(
                sum(isinstance(o, PlannedRequest) and o.model == model for o in gc.get_objects())
            )
    feed.close()
    planned = list(read_jsonl(feed.path, PlannedRequest))
    assert len(planned) > 40_000
    assert sorted(written) == sorted(r.request_id for r in planned)  # planned = recorded
    # About 15 s of plan at ~14 requests/s is alive at once; the whole plan is 40k+.
    assert len(alive) == 6 and max(alive) < 1_000, alive
