"""Deployments with listeners of their own: replicas of one model on separate ports, a ``down``
window that closes a replica's listener (a real socket gets ECONNREFUSED, the harness client
records ``connect_error``) and reopens it afterwards, and ``flap`` readiness per deployment."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from harness.client.http import HttpClient
from mock_models.embedded import LISTENING_PREFIX
from mock_models.settings import DeploymentSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
_BODY = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi there"}]}


def _replica(name: str, port: int | None = 0) -> DeploymentSettings:
    return DeploymentSettings(
        name=name,
        model="m",
        ttft_ms=0,
        prefill_ms_per_token=0,
        itl_ms=0,
        jitter=0,
        output_tokens=4,
        output_tokens_sigma=0,
        port=port,
    )


def _settings(rules: list[dict[str, Any]]) -> MockSettings:
    return MockSettings.model_validate(
        {
            "seed": 1,
            "deployments": [_replica("replica-a").model_dump(), _replica("replica-b").model_dump()],
            "faults": {"rule": rules},
        }
    )


def test_replicas_share_a_model_only_on_ports_of_their_own() -> None:
    MockSettings(deployments=(_replica("a", None), _replica("b", 0), _replica("c", 0)))
    with pytest.raises(ValidationError, match="models of deployments without a port"):
        MockSettings(deployments=(_replica("a", None), _replica("b", None)))
    with pytest.raises(ValidationError, match="same port"):
        MockSettings(deployments=(_replica("a", 9100), _replica("b", 9100)))
    with pytest.raises(ValidationError, match="port"):
        _replica("a", 70000)


async def _deployment_of(session: aiohttp.ClientSession, url: str) -> str | None:
    # A run id puts the fault windows on the run's clock, which starts at the first request,
    # not at the mock's start (a busy machine can spend a second getting here).
    async with session.post(
        url + "/v1/chat/completions", json=_BODY, headers={"x-tokenstorm-run-id": "r-listeners"}
    ) as response:
        await response.read()
        assert response.status == 200
        return response.headers.get("x-tokenstorm-deployment")


async def _refused(port: int) -> bool:
    """Whether nothing accepts on ``port``: refused, or reset by a listener closing while
    the connection sat in its queue (a fleet's worker closing its copy of the port)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def _until(check: Callable[[], Any], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "the listener never changed state"
        await asyncio.sleep(0.01)


def test_down_closes_the_replicas_listener_for_the_window(serving: Serving) -> None:
    rules = [
        {
            "kind": "down",
            "window": {"start": "1.5s", "end": "3s"},
            "targets": {"deployments": ["replica-b"]},
        }
    ]

    async def scenario() -> None:
        async with serving(_settings(rules)) as base_url, aiohttp.ClientSession() as session:
            async with session.get(base_url + "/tokenstorm/listeners") as response:
                ports = {name: entry["port"] for name, entry in (await response.json()).items()}
            # The first request starts the run's clock: the checks before the window have
            # its 1.5 s, however long the mock took to come up.
            url_a, url_b = (f"http://127.0.0.1:{ports[n]}" for n in ("replica-a", "replica-b"))
            # Each own listener serves its own deployment; the shared one the first replica.
            assert await _deployment_of(session, url_b) == "replica-b"
            assert await _deployment_of(session, url_a) == "replica-a"
            assert await _deployment_of(session, base_url) == "replica-a"
            assert not await _refused(ports["replica-b"])

            await _until(lambda: _refused(ports["replica-b"]))
            client = HttpClient(url_b + "/v1", "openai-chat", api_key="sk-test")
            try:
                result = await client.send(
                    model="m",
                    messages=[{"role": "user", "content": "hi"}],
                    max_tokens=4,
                    stream=True,
                    timeout_s=2.0,
                )
            finally:
                await client.close()
            assert result.outcome.value == "connect_error"
            assert await _deployment_of(session, url_a) == "replica-a"  # the other is up
            async with session.get(
                base_url + "/ready", params={"deployment": "replica-b"}
            ) as response:
                assert response.status == 503 and (await response.json())["status"] == "down"
            async with session.get(base_url + "/ready") as response:
                assert response.status == 200  # the server as a whole is up

            async def reopened() -> bool:
                return not await _refused(ports["replica-b"])

            await _until(reopened)
            async with session.get(base_url + "/tokenstorm/listeners") as response:
                entry = (await response.json())["replica-b"]
                assert (entry["port"], entry["open"]) == (ports["replica-b"], True)
            assert await _deployment_of(session, url_b) == "replica-b"

    asyncio.run(scenario())


def test_flap_follows_its_target_deployment(serving: Serving) -> None:
    rules = [
        {"kind": "flap", "params": {"period_s": 0.1}, "targets": {"deployments": ["replica-b"]}}
    ]

    async def scenario() -> None:
        async with serving(_settings(rules)) as base_url, aiohttp.ClientSession() as session:
            async with session.get(base_url + "/tokenstorm/listeners") as response:
                port_b = (await response.json())["replica-b"]["port"]
            seen: dict[str, set[int]] = {
                "server": set(),
                "a": set(),
                "b": set(),
                "b-own": set(),
                "m": set(),
            }
            probes = {
                "server": (base_url + "/ready", {}),
                "m": (base_url + "/ready", {"model": "m"}),  # the first replica
                "a": (base_url + "/ready", {"deployment": "replica-a"}),
                "b": (base_url + "/ready", {"deployment": "replica-b"}),
                "b-own": (f"http://127.0.0.1:{port_b}/ready", {}),
            }
            for _ in range(25):
                for name, (url, params) in probes.items():
                    async with session.get(url, params=params) as response:
                        seen[name].add(response.status)
                await asyncio.sleep(0.02)
            assert seen == {
                "server": {200},
                "a": {200},
                "b": {200, 503},
                "b-own": {200, 503},
                "m": {200},
            }
            async with session.get(base_url + "/ready", params={"model": "nope"}) as response:
                assert response.status == 404
                assert "replica-a, replica-b" in await response.text()

    asyncio.run(scenario())


def test_a_stream_in_flight_when_the_listener_dies_is_a_reset_on_both_sides(
    serving: Serving, ledger_of: Callable[..., Any]
) -> None:
    """A ``down`` window drops the open connections too: the client records a reset, and the
    mock's ledger says the same, with the fault that did it."""
    rules = [
        {
            "kind": "down",
            "window": {"start": "0.4s", "end": "5s"},
            "targets": {"deployments": ["replica-b"]},
        }
    ]
    slow = DeploymentSettings(
        name="replica-b",
        model="m",
        ttft_ms=0,
        prefill_ms_per_token=0,
        itl_ms=50,
        jitter=0,
        output_tokens=40,
        output_tokens_sigma=0,
        port=0,
    )
    settings = MockSettings.model_validate(
        {
            "seed": 1,
            "deployments": [_replica("replica-a").model_dump(), slow.model_dump()],
            "faults": {"rule": rules},
        }
    )

    async def scenario() -> None:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            async with session.get(base_url + "/tokenstorm/listeners") as response:
                port_b = (await response.json())["replica-b"]["port"]
            client = HttpClient(f"http://127.0.0.1:{port_b}/v1", "openai-chat")
            try:
                result = await client.send(
                    model="m",
                    messages=[{"role": "user", "content": "hi"}],
                    max_tokens=40,
                    stream=True,
                    timeout_s=5.0,
                    headers={
                        "x-tokenstorm-run-id": "r1",
                        "x-tokenstorm-request-id": "q1",
                        "x-tokenstorm-attempt": "1",
                    },
                )
            finally:
                await client.close()
            assert result.outcome.value == "reset", result
            assert result.first_token_s is not None  # it was streaming when cut
            entries = await ledger_of(session, base_url, run_id="r1", at_least=1)
        assert [(e.outcome, e.fault) for e in entries] == [("reset", "down")]
        assert 0 < entries[0].completion_tokens < 40

    asyncio.run(scenario())


def test_the_command_line_mock_names_each_own_listener() -> None:
    config = MockSettings(deployments=(_replica("replica-a"), _replica("replica-b")))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_models",
            "--port",
            "0",
            "--config-json",
            config.model_dump_json(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert lines[0].startswith(LISTENING_PREFIX)
    for line, name in zip(lines[1:], ("replica-a", "replica-b"), strict=True):
        assert line.startswith(f"deployment {name} also on its own listener http://127.0.0.1:")


def test_a_taken_own_port_is_one_line_naming_the_deployments_field(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = MockSettings(deployments=(_replica("replica-a"), _replica("replica-b", port)))
        toml = tmp_path / "mock.toml"
        toml.write_text(
            "[[deployments]]\nname = 'replica-a'\nmodel = 'm'\nport = 0\n"
            f"[[deployments]]\nname = 'replica-b'\nmodel = 'm'\nport = {port}\n"
        )
        # ``tokenstorm mock`` hands its settings to the mock's own command line.
        for argv in (
            [
                sys.executable,
                "-m",
                "mock_models",
                "--port",
                "0",
                "--config-json",
                config.model_dump_json(),
            ],
            [
                sys.executable,
                "-m",
                "harness.cli.main",
                "mock",
                "--port",
                "0",
                "--config",
                str(toml),
            ],
        ):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            assert done.returncode == 2, done.stderr
            assert done.stderr.splitlines() == [
                f"tokenstorm-mock: deployments.replica-b.port {port}: "
                f"{os.strerror(errno.EADDRINUSE)}; pick another or 0"
            ], done.stderr
