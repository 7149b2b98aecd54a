"""Fault profiles on the mock: windows on each run's clock, "first N attempts", reproducible
draws per (seed, request id, attempt), readiness flapping, and the active profile shown and
swapped at ``/tokenstorm/faults`` while serving."""

from __future__ import annotations

import argparse
import asyncio
import tomllib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest

from faults.profile import load_profile
from harness.cli.errors import UserError
from harness.cli.mock import settings_from_args
from harness.cli.scenario_source import demo_scenario_text
from harness.pytest_plugin import mock_settings
from mock_models.settings import MockSettings, constant_settings
from workloads.scenario import parse_scenario

Serving = Callable[..., AbstractAsyncContextManager[str]]
_BODY = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi there"}]}


def _settings(profile: dict[str, Any] | str, seed: int = 5) -> MockSettings:
    base = constant_settings(ttft_ms=0, itl_ms=0, output_tokens=4, seed=seed)
    return MockSettings.model_validate(
        {"seed": seed, "deployments": base.deployments, "faults": profile}
    )


async def _post(
    session: aiohttp.ClientSession, base_url: str, **headers: str
) -> tuple[int, str | None]:
    sent = {f"x-tokenstorm-{k.replace('_', '-')}": v for k, v in headers.items()}
    async with session.post(
        base_url + "/v1/chat/completions", json=_BODY, headers=sent
    ) as response:
        try:
            await response.read()
        except aiohttp.ClientPayloadError:
            pass  # a cut answer: its status and fault header are what this test reads
        return response.status, response.headers.get("x-tokenstorm-fault")


def test_windows_follow_each_runs_clock_and_first_attempts(serving: Serving) -> None:
    profile = {
        "rule": [
            {"kind": "http_500", "window": {"end": "0.5s"}, "targets": {"models": ["m"]}},
            {"kind": "http_429", "window": {"start": "1h"}},
            {"kind": "quota_429", "first_attempts": 2, "targets": {"models": ["n"]}},
        ]
    }

    async def scenario() -> None:
        async with serving(_settings(profile)) as base_url, aiohttp.ClientSession() as session:
            assert await _post(session, base_url, run_id="a") == (500, "http_500")
            await asyncio.sleep(0.6)  # past the window's end on run a's clock
            assert await _post(session, base_url, run_id="a") == (200, None)
            assert await _post(session, base_url, run_id="b") == (500, "http_500")  # new clock
            other = dict(_BODY, model="n")
            statuses = []
            for attempt in (1, 2, 3):
                async with session.post(
                    base_url + "/v1/chat/completions",
                    json=other,
                    headers={"x-tokenstorm-attempt": str(attempt)},
                ) as r:
                    statuses.append(r.status)
            assert statuses == [429, 429, 200]

    asyncio.run(scenario())


def _sequence(serving: Serving, seed: int) -> list[str | None]:
    profile = {
        "rule": [
            {"kind": kind, "probability": 0.2}
            for kind in ("http_500", "http_503", "cut", "drop_usage")
        ]
    }

    async def scenario() -> list[str | None]:
        async with (
            serving(_settings(profile, seed)) as base_url,
            aiohttp.ClientSession() as session,
        ):
            faults = []
            for index in range(40):
                _, fault = await _post(
                    session, base_url, run_id="seq", request_id=f"r{index}", attempt="1"
                )
                faults.append(fault)
            return faults

    return asyncio.run(scenario())


def test_the_same_seed_reproduces_the_fault_sequence(serving: Serving) -> None:
    first = _sequence(serving, seed=11)
    assert _sequence(serving, seed=11) == first
    assert len({f for f in first if f is not None}) >= 3  # the draws do spread over the kinds
    assert first.count(None) < len(first)
    assert _sequence(serving, seed=12) != first


def test_the_profile_is_shown_and_swapped_while_serving(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_settings({"rule": []})) as base_url, aiohttp.ClientSession() as session:
            url = base_url + "/tokenstorm/faults"
            async with session.put(url, json={"profile": "brownout"}) as response:
                assert response.status == 200
            async with session.get(url) as response:
                shown = await response.json()
            assert shown["name"] == "brownout" and shown["rule"]
            assert {rule["window"]["start"] for rule in shown["rule"]} == {60.0}
            async with session.put(url, json={"rule": [{"kind": "http_502"}]}) as response:
                assert response.status == 200
            assert (await _post(session, base_url))[0] == 502
            async with session.put(url, json={"rule": [{"kind": "nope"}]}) as response:
                assert response.status == 400 and "unknown fault kind" in await response.text()
            async with session.put(url, json={"profile": "nope"}) as response:
                assert response.status == 400 and "no such fault profile" in await response.text()
            assert (await _post(session, base_url))[0] == 502  # a bad PUT changes nothing

    asyncio.run(scenario())


def test_flap_alternates_readiness_and_still_serves(serving: Serving) -> None:
    async def scenario() -> None:
        profile = {"rule": [{"kind": "flap", "params": {"period_s": 0.1}}]}
        async with serving(_settings(profile)) as base_url, aiohttp.ClientSession() as session:
            seen = set()
            for _ in range(30):
                async with session.get(base_url + "/ready") as response:
                    seen.add(response.status)
                await asyncio.sleep(0.02)
            assert seen == {200, 503}
            assert await _post(session, base_url) == (200, "flap")

    asyncio.run(scenario())


def _cli(faults: str) -> MockSettings:
    args = argparse.Namespace(
        ttft_ms=None, itl_ms=None, output_tokens=None, config=None, faults=faults, seed=None
    )
    return settings_from_args(args)


def test_mock_faults_flag_takes_a_profile_name_or_file(tmp_path: Any) -> None:
    profile = _cli("brownout").faults
    assert profile is not None and profile.name == "brownout"
    demo = _cli("demo").faults
    assert demo is not None and [rule.kind for rule in demo.rule] == [
        "http_429",
        "http_500",
        "http_503",
        "cut",
    ]
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\nkind = "cut"\nparams = { after_tokens = 2 }\n')
    mine = _cli(str(rules)).faults
    assert mine is not None and mine.name == "mine" and mine.rule[0].params == {"after_tokens": 2}
    with pytest.raises(UserError, match="no such fault profile"):
        _cli("nope")
    table = tmp_path / "table.toml"  # the old demo table is no profile
    table.write_text("http_429 = 0.5\n")
    with pytest.raises(UserError, match=r"table\.toml: http_429: unknown field"):
        _cli(str(table))


def test_scenario_mock_faults_can_name_a_profile() -> None:
    data = {
        "mock": {"faults": "cut-streams"},
        "target": {"model": "mock-small"},
        "workload": [{"kind": "chat", "share": 1.0}],
        "arrival": {"rate": "1/s"},
        "duration": "1s",
    }
    scenario = parse_scenario(data)
    assert scenario.mock.faults is not None
    assert scenario.mock.faults.name == "cut-streams"
    inline = parse_scenario({**data, "mock": {"faults": {"rule": [{"kind": "http_502"}]}}})
    assert inline.mock.faults is not None and inline.mock.faults.rule[0].kind == "http_502"
    assert parse_scenario({k: v for k, v in data.items() if k != "mock"}).mock.faults is None


def test_the_built_in_demo_names_the_demo_profile() -> None:
    scenario = parse_scenario(tomllib.loads(demo_scenario_text()))
    assert scenario.mock.faults == load_profile("demo")


def test_the_pytest_plugin_takes_a_profile() -> None:
    settings = mock_settings(faults={"rule": [{"kind": "http_504"}]}, seed=2)
    assert settings.faults is not None and settings.faults.rule[0].kind == "http_504"
    flaky = mock_settings(faults="flaky").faults
    assert flaky is not None and flaky.name == "flaky"
    with pytest.raises(ValueError, match="tokenstorm_mock marker"):
        mock_settings(faults="no-such-profile")
