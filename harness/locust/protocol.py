"""What master and workers share: how Locust is brought up (without gevent's monkey patching:
the master lives in the run's own process, beside the embedded mock's thread, and nothing of
ours needs patched sockets), how a window of the plan travels (plan lines and their hash),
the live counters a worker reports, and this tokenstorm's version."""

from __future__ import annotations

import hashlib
import os
import random
import sys
from array import array
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
import orjson

from harness.contract.records import PlannedRequest, from_dict, to_json_line
from harness.engine_config import LiveStats

#: A worker stops when the master has sent no heartbeat for this long.
MASTER_SILENT_S = 30.0
_COUNTERS = (
    "sent",
    "ok",
    "failed_attempts",
    "in_flight",
    "requests_done",
    "requests_failed",
    "dropped",
)


def version() -> str:
    try:
        return metadata.version("tokenstorm")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def _environment() -> Any:
    os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
    from locust import User
    from locust.argument_parser import get_parser
    from locust.env import Environment

    class ShardUser(User):
        """Never spawned: a worker's sessions are greenlets of its engine (open loop)."""

        abstract = False

    env = Environment(user_classes=[ShardUser])
    parser = get_parser()
    env.parsed_options = parser.parse_args(args=["--headless"])
    return env


def serve_ui(env: Any, port: int) -> Callable[[], None]:
    """Serve Locust's web UI on loopback; returns what stops it. Locust's page builder reads
    ``sys.argv`` as its own command line, so while the UI serves, that reads as bare."""

    saved = sys.argv
    sys.argv = saved[:1]
    ui = env.create_web_ui(host="127.0.0.1", port=port)

    def stop() -> None:
        ui.stop()
        sys.argv = saved

    return stop


def locust_master(bind_host: str, bind_port: int) -> tuple[Any, Any]:
    env = _environment()
    return env, env.create_master_runner(master_bind_host=bind_host, master_bind_port=bind_port)


def locust_worker(master_host: str, master_port: int) -> tuple[Any, Any]:
    env = _environment()
    return env, env.create_worker_runner(master_host, master_port)


def encode_plan(plan: list[PlannedRequest]) -> bytes:
    return b"".join(to_json_line(r) for r in plan)


def decode_plan(lines: bytes) -> list[PlannedRequest]:
    return [from_dict(PlannedRequest, orjson.loads(line)) for line in lines.splitlines() if line]


def lines_hash(lines: bytes) -> str:
    """The hash of plan lines."""
    return hashlib.sha256(lines).hexdigest()[:16]


def plan_hash(plan: list[PlannedRequest]) -> str:
    """The hash of a plan's lines as this tokenstorm writes them: a worker that reads a
    window's lines and writes them back differently (another plan format) sees another."""
    return lines_hash(encode_plan(plan))


def stats_json(stats: LiveStats) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(stats, name) for name in _COUNTERS}
    out["last_ttft_s"] = stats.last_ttft_s
    return out


def add_stats(total: LiveStats, parts: list[dict[str, Any]]) -> None:
    """Set ``total`` to the sum of the workers' latest counters."""
    for name in _COUNTERS:
        setattr(total, name, sum(int(p.get(name, 0)) for p in parts))
    ttfts = [p["last_ttft_s"] for p in parts if p.get("last_ttft_s") is not None]
    total.last_ttft_s = ttfts[-1] if ttfts else None


class LagSample:
    """One worker's schedule lags (sent minus intended) in bounded memory: every one up to
    ``size``, then a uniform sample of all of them (reservoir sampling, seeded), so a worker
    sending for days keeps ``size`` floats, not one per attempt."""

    def __init__(self, size: int = 100_000, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self._kept = array("d")
        self._rng = random.Random(seed)

    def add(self, lag_s: float) -> None:
        self.seen += 1
        if len(self._kept) < self.size:
            self._kept.append(lag_s)
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.size:
            self._kept[slot] = lag_s

    def __len__(self) -> int:
        return len(self._kept)

    def ms(self) -> dict[str, float] | None:
        """p50 and p99 in ms (of the sample past ``size``); None if nothing was sent."""
        if not self._kept:
            return None
        kept = np.frombuffer(self._kept, dtype=np.float64) * 1000.0
        p50, p99 = np.percentile(kept, [50, 99])
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}
