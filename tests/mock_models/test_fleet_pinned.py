"""Replicas pinned to workers: a mock of two workers with two replicas of one model, each on
a port of its own, serves each replica from its own worker (a router in front sees two
distinct endpoints), lists both listeners fleet-wide, and a killed worker comes back on the
same port."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import orjson
import pytest

from mock_models.embedded import LISTENING_PREFIX
from mock_models.settings import DeploymentSettings, MockSettings


def _replica(name: str) -> DeploymentSettings:
    return DeploymentSettings(
        name=name,
        model="m",
        ttft_ms=0,
        prefill_ms_per_token=0,
        itl_ms=0,
        jitter=0,
        output_tokens=4,
        output_tokens_sigma=0,
        port=0,
    )


_SETTINGS = MockSettings(seed=1, deployments=(_replica("replica-a"), _replica("replica-b")))
_BODY = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi there"}]}
_TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture
def fleet() -> Iterator[tuple[str, list[str]]]:
    """The shared URL and the lines naming the own listeners of a 2-worker command-line mock."""
    command = [sys.executable, "-m", "mock_models", "--port", "0", "--workers", "2"]
    command += ["--config-json", _SETTINGS.model_dump_json()]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().decode().strip() for _ in range(3)]
        assert lines[0].startswith(LISTENING_PREFIX), lines
        yield lines[0].removeprefix(LISTENING_PREFIX), lines[1:]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as response:
        return response.status, await response.read()


async def _served(session: aiohttp.ClientSession, url: str, times: int) -> set[str]:
    seen = set()
    for _ in range(times):
        async with session.post(url + "/v1/chat/completions", json=_BODY) as response:
            await response.read()
            assert response.status == 200
            seen.add(response.headers["x-tokenstorm-deployment"])
    return seen


def _count(metrics: bytes, deployment: str) -> float:
    prefix = "vllm:e2e_request_latency_seconds_count{"
    for line in metrics.decode().splitlines():
        if line.startswith(prefix) and f'deployment="{deployment}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_each_replica_is_served_by_its_own_worker_on_its_own_port(
    fleet: tuple[str, list[str]],
) -> None:
    base_url, own_lines = fleet

    async def scenario() -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as session:
            _, body = await _get(session, base_url + "/tokenstorm/listeners")
            listeners = orjson.loads(body)
            assert {n: (e["worker"], e["open"]) for n, e in listeners.items()} == {
                "replica-a": (0, True),
                "replica-b": (1, True),
            }
            urls = {n: f"http://127.0.0.1:{e['port']}" for n, e in listeners.items()}
            for name, worker in (("replica-a", 0), ("replica-b", 1)):
                assert (
                    f"deployment {name} also on its own listener {urls[name]} (worker {worker})"
                    in own_lines
                )
            assert await _served(session, urls["replica-a"], 6) == {"replica-a"}
            assert await _served(session, urls["replica-b"], 4) == {"replica-b"}
            _, body = await _get(session, base_url + "/ready")
            workers = orjson.loads(body)["workers"]
            # Each replica's attempts all went through its own worker (its engine, its batch).
            counts = []
            for worker in workers:
                _, text = await _get(session, f"http://127.0.0.1:{worker['admin_port']}/metrics")
                counts.append((_count(text, "replica-a"), _count(text, "replica-b")))
            assert counts == [(6.0, 0.0), (0.0, 4.0)]
            # The readiness of a replica, asked on its own port, is its worker's.
            status, body = await _get(session, urls["replica-b"] + "/ready")
            assert (status, orjson.loads(body)) == (200, {"status": "ready"})

            # A killed worker takes its replica's port down, and comes back on that port.
            os.kill(workers[1]["pid"], signal.SIGKILL)
            deadline = time.monotonic() + 10
            while True:
                _, body = await _get(session, base_url + "/ready")
                document = orjson.loads(body)
                if document["status"] == "ready" and document["workers"][1]["restarts"] == 1:
                    break
                assert time.monotonic() < deadline, "the worker did not come back"
                await asyncio.sleep(0.05)
            assert await _served(session, urls["replica-b"], 2) == {"replica-b"}
            _, body = await _get(session, base_url + "/tokenstorm/listeners")
            assert orjson.loads(body)["replica-b"]["port"] == listeners["replica-b"]["port"]

    asyncio.run(scenario())


def test_a_taken_pinned_port_fails_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = MockSettings(
            deployments=(
                _replica("replica-a"),
                _replica("replica-b").model_copy(update={"port": port}),
            )
        )
        command = [sys.executable, "-m", "mock_models", "--port", "0", "--workers", "2"]
        done = subprocess.run(
            [*command, "--config-json", settings.model_dump_json()],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"tokenstorm-mock: deployments.replica-b.port {port}: "
        f"{os.strerror(errno.EADDRINUSE)}; pick another or 0"
    ]
