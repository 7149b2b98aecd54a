"""The admin API: read settings, swap the fault profile while serving, reset state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import orjson

from harness.contract.prompt_text import synthetic_text
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]

_SETTINGS = MockSettings(
    seed=3,
    deployments=(
        DeploymentSettings(
            name="engine",
            model="m",
            jitter=0.0,
            output_tokens=3,
            output_tokens_sigma=0.0,
            engine=EngineSettings(
                step_base_ms=0.2,
                prefill_ms_per_token=0.0,
                decode_ms_per_seq=0.0,
                prefix_cache_blocks=50,
            ),
        ),
    ),
)
_BODY = {"model": "m", "messages": [{"role": "user", "content": synthetic_text(40, 1)}]}


def test_faults_change_while_serving_and_reset_forgets(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, aiohttp.ClientSession() as session:
            admin = base_url + "/tokenstorm/admin"
            faults = base_url + "/tokenstorm/faults"

            async def chat() -> tuple[int, dict[str, object]]:
                async with session.post(base_url + "/v1/chat/completions", json=_BODY) as response:
                    return response.status, orjson.loads(await response.read())

            assert (await chat())[0] == 200
            async with session.put(faults, json={"rule": [{"kind": "http_500"}]}) as response:
                assert response.status == 200
            assert (await chat())[0] == 500
            async with session.put(
                faults, json={"rule": [{"kind": "http_500", "probability": 1.7}]}
            ) as response:
                assert response.status == 400
                message = (await response.json())["error"]["message"]
                assert message.startswith("PUT /tokenstorm/faults: rule[0].probability: ")
            async with session.get(faults) as response:
                assert [r["kind"] for r in (await response.json())["rule"]] == ["http_500"]
            async with session.get(admin + "/settings") as response:
                assert (await response.json())["faults"] is None  # as started
            async with session.put(faults, json={"profile": "none.toml"}) as response:
                assert response.status == 400
                assert "no such fault profile file" in (await response.json())["error"]["message"]
            async with session.put(faults, json={"rule": []}) as response:
                assert response.status == 200
            status, answer = await chat()
            assert status == 200
            usage = answer["usage"]
            assert isinstance(usage, dict)
            assert usage["prompt_tokens_details"]["cached_tokens"] == 32  # seen before
            async with session.post(admin + "/reset") as response:
                assert await response.json() == {
                    "ledger_entries": 3,
                    "prefix_cache_blocks": 2,
                    "runs": 0,
                }
            status, answer = await chat()
            usage = answer["usage"]
            assert isinstance(usage, dict)
            assert usage["prompt_tokens_details"]["cached_tokens"] == 0

    asyncio.run(scenario())
