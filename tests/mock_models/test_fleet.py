"""A mock of two workers on one port answers as one mock: the openai SDK streams from it, its
ledger holds every attempt exactly once with seeded faults whatever worker served them, a fault
profile put reaches every worker, and a killed worker is restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest

from harness.api.run_start import run_start_body
from harness.contract.prompt_text import synthetic_text
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings

_SETTINGS = MockSettings(
    seed=7,
    deployments=(
        DeploymentSettings(
            name="fast",
            model="mock-fast",
            ttft_ms=1.0,
            prefill_ms_per_token=0.0,
            itl_ms=0.2,
            output_tokens=8,
            output_tokens_sigma=0.4,
        ),
    ),
)
_BODY = {"model": "mock-fast", "messages": [{"role": "user", "content": synthetic_text(20, 1)}]}
_TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="module")
def fleet() -> Iterator[EmbeddedMock]:
    with EmbeddedMock(_SETTINGS, workers=2) as mock:
        yield mock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _ready(session: aiohttp.ClientSession, base_url: str) -> dict[str, object]:
    async with session.get(base_url + "/ready") as response:
        document: dict[str, object] = orjson.loads(await response.read())
        return document


def _workers(document: dict[str, object]) -> list[dict[str, int]]:
    workers = document["workers"]
    assert isinstance(workers, list)
    return workers


def _fresh() -> aiohttp.ClientSession:
    """A session opening one connection per request, so the kernel spreads them."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=_TIMEOUT)


def test_the_openai_sdk_streams_from_every_worker(fleet: EmbeddedMock) -> None:
    async def scenario() -> None:
        for _ in range(12):
            async with openai.AsyncOpenAI(
                base_url=fleet.api_url, api_key="test", max_retries=0, timeout=10
            ) as client:
                stream = await client.chat.completions.create(
                    model="mock-fast",
                    messages=[{"role": "user", "content": "hello there"}],
                    max_tokens=5,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                chunks = [chunk async for chunk in stream]
                assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1
        async with _fresh() as session:
            served = []
            for worker in _workers(await _ready(session, fleet.base_url)):
                url = f"http://127.0.0.1:{worker['admin_port']}/metrics"
                async with session.get(url) as response:
                    text = (await response.read()).decode()
                line = next(
                    x
                    for x in text.splitlines()
                    if x.startswith("vllm:e2e_request_latency_seconds_count")
                )
                served.append(float(line.rsplit(" ", 1)[1]))
            async with session.get(fleet.base_url + "/metrics") as response:
                text = (await response.read()).decode()
            line = next(
                x
                for x in text.splitlines()
                if x.startswith("vllm:e2e_request_latency_seconds_count")
            )
        assert len(served) == 2 and all(count > 0 for count in served)  # both took some
        assert float(line.rsplit(" ", 1)[1]) == sum(served)  # the shared port sums them

    asyncio.run(scenario())


_FLAKY = {
    "name": "flaky-test",
    "rule": [
        {"kind": "http_500", "probability": 0.3},
        {"kind": "http_429", "probability": 0.3},
    ],
}


async def _attempts(session: aiohttp.ClientSession, base_url: str, run_id: str) -> list[int]:
    """40 requests of up to 3 attempts each (retrying errors), one connection each; the
    status of every attempt, in order."""
    statuses = []
    for request in range(40):
        for attempt in range(3):
            headers = {
                "x-tokenstorm-run-id": run_id,
                "x-tokenstorm-request-id": f"r{request}",
                # 1-based, as the client sends it: a worker that did not see the earlier
                # attempts goes by the header, which then says more than its own count.
                "x-tokenstorm-attempt": str(attempt + 1),
            }
            url = base_url + "/v1/chat/completions"
            async with session.post(url, json=_BODY, headers=headers) as response:
                await response.read()
                statuses.append(response.status)
            if response.status == 200:
                break
    return statuses


async def _ledger(
    session: aiohttp.ClientSession, base_url: str, run_id: str
) -> list[dict[str, object]]:
    async with session.get(base_url + "/tokenstorm/ledger", params={"run_id": run_id}) as response:
        assert response.status == 200
        return [orjson.loads(line) for line in (await response.read()).splitlines()]


def test_the_ledger_holds_each_attempt_once_with_seeded_faults(fleet: EmbeddedMock) -> None:
    async def run(base_url: str) -> tuple[list[int], list[dict[str, object]]]:
        async with _fresh() as session:
            async with session.put(base_url + "/tokenstorm/faults", json=_FLAKY) as response:
                assert response.status == 200
            statuses = await _attempts(session, base_url, "run-a")
            ledger = await _ledger(session, base_url, "run-a")
            async with session.put(base_url + "/tokenstorm/faults", json={"name": "none"}) as put:
                assert put.status == 200
        return statuses, ledger

    statuses, ledger = asyncio.run(run(fleet.base_url))
    with EmbeddedMock(_SETTINGS) as single:
        alone, _ = asyncio.run(run(single.base_url))
    # Same seed, request ids and attempts: the faults one process draws, whichever worker
    # served each attempt.
    assert statuses == alone and 200 in statuses and 500 in statuses and 429 in statuses
    assert len(ledger) == len(statuses)  # exactly once each
    keys = [(line["request_id"], line["attempt"]) for line in ledger]
    assert len(set(keys)) == len(keys)
    assert [line["status_code"] for line in ledger] == statuses  # in received order
    received = [float(str(line["received_s"])) for line in ledger]
    assert received == sorted(received)


def test_a_put_profile_reaches_every_worker_before_the_answer(fleet: EmbeddedMock) -> None:
    async def scenario() -> None:
        profile = {"name": "all-503", "rule": [{"kind": "http_503"}]}
        async with _fresh() as session:
            async with session.put(fleet.base_url + "/tokenstorm/faults", json=profile) as response:
                assert response.status == 200
            statuses = []
            for _ in range(20):
                async with session.post(
                    fleet.base_url + "/v1/chat/completions", json=_BODY
                ) as response:
                    statuses.append(response.status)
            names = []
            for worker in _workers(await _ready(session, fleet.base_url)):
                url = f"http://127.0.0.1:{worker['admin_port']}/tokenstorm/faults"
                async with session.get(url) as response:
                    names.append((await response.json())["name"])
            async with session.put(
                fleet.base_url + "/tokenstorm/faults", json={"name": "none"}
            ) as response:
                assert response.status == 200
            async with session.post(
                fleet.base_url + "/v1/chat/completions", json=_BODY
            ) as response:
                assert response.status == 200
        assert statuses == [503] * 20
        assert names == ["all-503", "all-503"]

    asyncio.run(scenario())


def test_a_killed_worker_is_restarted_with_the_fleet_profile(fleet: EmbeddedMock) -> None:
    async def scenario() -> None:
        profile = {"name": "kept", "rule": [{"kind": "http_500", "probability": 0.0}]}
        async with _fresh() as session:
            async with session.put(fleet.base_url + "/tokenstorm/faults", json=profile) as response:
                assert response.status == 200
            async with session.get(fleet.base_url + "/tokenstorm/ledger") as response:
                before = (await response.read()).splitlines()
            victim = _workers(await _ready(session, fleet.base_url))[1]
            os.kill(victim["pid"], signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                document = await _ready(session, fleet.base_url)
                worker = _workers(document)[1]
                if document["status"] == "ready" and worker["pid"] != victim["pid"]:
                    break
                await asyncio.sleep(0.05)
            assert worker["restarts"] == victim["restarts"] + 1 and _alive(worker["pid"])
            url = f"http://127.0.0.1:{worker['admin_port']}/tokenstorm/faults"
            async with session.get(url) as response:
                assert (await response.json())["name"] == "kept"
            for _ in range(10):
                async with session.post(
                    fleet.base_url + "/v1/chat/completions", json=_BODY
                ) as response:
                    assert response.status == 200
            async with session.get(fleet.base_url + "/tokenstorm/ledger") as response:
                after = (await response.read()).splitlines()
        # The dead worker's lines outlive it, and nothing is counted twice.
        assert before and after[: len(before)] == before and len(after) == len(before) + 10

    asyncio.run(scenario())


def test_stopping_the_parent_stops_every_worker() -> None:
    async def pids(mock: EmbeddedMock) -> list[int]:
        async with _fresh() as session:
            return [w["pid"] for w in _workers(await _ready(session, mock.base_url))]

    # The settings' ``workers`` alone make a fleet (as a scenario's ``[mock] workers`` does).
    mock = EmbeddedMock(_SETTINGS.model_copy(update={"workers": 2}))
    mock.start()
    try:
        workers = asyncio.run(pids(mock))
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    finally:
        mock.stop()
    assert not any(_alive(pid) for pid in workers)
    # A parent killed outright takes its workers along too (they get SIGTERM from Linux).
    with EmbeddedMock(_SETTINGS, workers=2) as killed:
        workers, parent = asyncio.run(pids(killed)), killed.pid
        os.kill(parent, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers)
    # Its run folder is left behind, and the next fleet's start removes it.
    folders = list(Path(tempfile.gettempdir()).glob(f"tokenstorm-mock-fleet-{parent}-*"))
    with EmbeddedMock(_SETTINGS, workers=2):
        assert folders and not any(found.exists() for found in folders)


def test_deleting_the_ledger_empties_it_on_every_worker(fleet: EmbeddedMock) -> None:
    async def scenario() -> None:
        async with _fresh() as session:
            for _ in range(6):
                async with session.post(
                    fleet.base_url + "/v1/chat/completions", json=_BODY
                ) as response:
                    assert response.status == 200
            async with session.get(fleet.base_url + "/tokenstorm/ledger") as response:
                held = len((await response.read()).splitlines())
            async with session.delete(fleet.base_url + "/tokenstorm/ledger") as response:
                assert (await response.json())["deleted"] == held >= 6
            async with session.post(
                fleet.base_url + "/v1/chat/completions", json=_BODY
            ) as response:
                assert response.status == 200
            async with session.get(fleet.base_url + "/tokenstorm/ledger") as response:
                assert len((await response.read()).splitlines()) == 1

    asyncio.run(scenario())


def test_ctrl_c_stops_the_fleet_and_stderr_tells_of_a_restart(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mock_models", "--port", "0", "--workers", "2"]
    command += ["--config-json", _SETTINGS.model_dump_json()]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().decode().split(" on ", 1)[1].strip()

        async def kill_one() -> tuple[int, list[int]]:
            async with _fresh() as session:
                victim = _workers(await _ready(session, base_url))[0]["pid"]
                os.kill(victim, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    document = await _ready(session, base_url)
                    if document["status"] == "ready" and victim not in (
                        pids := [w["pid"] for w in _workers(document)]
                    ):
                        return victim, pids
                    await asyncio.sleep(0.05)
            raise AssertionError("the killed worker was not restarted within 10 s")

        victim, workers = asyncio.run(kill_one())
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert (
        f"worker 0 (pid {victim}) exited with code -9; no attempt was open on it; "
        "restarting it (restart 1)"
    ) in stderr.decode()
    assert not any(_alive(pid) for pid in workers)


def test_a_runs_start_reaches_every_worker(fleet: EmbeddedMock) -> None:
    """A run that announces its start 10 s into its clock meets the 5 s window on whichever
    worker serves it; without the announcement a worker would start the run's clock at the
    first request it sees."""

    async def scenario() -> tuple[list[int], dict[str, int]]:
        profile = {"name": "late", "rule": [{"kind": "http_500", "window": {"start": 5}}]}
        async with _fresh() as session:
            async with session.post(fleet.base_url + "/tokenstorm/admin/reset") as response:
                assert response.status == 200  # earlier tests' runs forgotten
            async with session.put(fleet.base_url + "/tokenstorm/faults", json=profile) as put:
                assert put.status == 200
            start = run_start_body("announced", 10.0)
            async with session.post(fleet.base_url + "/tokenstorm/runs", data=start) as response:
                assert response.status == 200
            statuses = []
            for _ in range(16):
                async with session.post(
                    fleet.base_url + "/v1/chat/completions",
                    json=_BODY,
                    headers={"x-tokenstorm-run-id": "announced"},
                ) as response:
                    statuses.append(response.status)
            async with session.put(
                fleet.base_url + "/tokenstorm/faults", json={"name": "none"}
            ) as put:
                assert put.status == 200
            async with session.post(fleet.base_url + "/tokenstorm/admin/reset") as response:
                reset = await response.json()
        return statuses, reset

    statuses, reset = asyncio.run(scenario())
    assert statuses == [500] * 16
    assert reset["runs"] == 1  # each worker forgot the one run it was told of


def test_an_unannounced_runs_clock_starts_once_for_the_fleet(fleet: EmbeddedMock) -> None:
    """Its first request on worker 0, the next 1.5 s later on worker 1 (through their admin
    ports, which answer too): the window from 1 s holds on worker 1 as well, because its run
    clock started with the fleet's first request of the run, not with its own."""

    async def scenario() -> list[int]:
        profile = {"name": "late", "rule": [{"kind": "http_500", "window": {"start": 1}}]}
        async with _fresh() as session:
            async with session.put(fleet.base_url + "/tokenstorm/faults", json=profile) as put:
                assert put.status == 200
            workers = _workers(await _ready(session, fleet.base_url))
            statuses = []
            for worker, pause_s in ((workers[0], 0.0), (workers[1], 1.5), (workers[0], 0.0)):
                await asyncio.sleep(pause_s)
                url = f"http://127.0.0.1:{worker['admin_port']}/v1/chat/completions"
                headers = {"x-tokenstorm-run-id": "unannounced"}
                async with session.post(url, json=_BODY, headers=headers) as response:
                    statuses.append(response.status)
            async with session.put(fleet.base_url + "/tokenstorm/faults", json={"name": "none"}):
                pass
            async with session.post(fleet.base_url + "/tokenstorm/admin/reset") as response:
                assert response.status == 200
        return statuses

    assert asyncio.run(scenario()) == [200, 500, 500]
