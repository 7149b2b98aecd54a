"""One fault route (``/tokenstorm/faults``) that shows and swaps the fault profile, and no
other; rules reaching every API flavour (``/v1/completions`` and ``/v1/embeddings`` too) unless
they name some; the faults that act before an answer applied to embeddings, with ledger lines
that say so."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import orjson
import pytest

from faults.catalogue import API_FLAVOURS, CATALOGUE, FaultKind, Phase, applies
from faults.decide import AttemptContext, choose
from faults.profile import ProfileError, load_profile, parse_profile, profile_from_json
from harness.contract.records import LedgerEntry
from mock_models.settings import MockSettings, constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]
ROUTE = "/tokenstorm/faults"
_CHAT = (
    "/v1/chat/completions",
    {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]},
)
_COMPLETIONS = ("/v1/completions", {"model": "m", "max_tokens": 4, "prompt": "hi there"})
_EMBEDDINGS = ("/v1/embeddings", {"model": "m", "input": "hi there"})


def _settings(rules: list[dict[str, Any]]) -> MockSettings:
    base = constant_settings(ttft_ms=0, itl_ms=0, output_tokens=4, seed=2)
    return MockSettings.model_validate({**base.model_dump(), "faults": {"rule": rules}})


async def _call(
    session: aiohttp.ClientSession,
    base_url: str,
    route: tuple[str, Any],
    headers: dict[str, str] | None = None,
) -> tuple[int, str | None]:
    path, body = route
    async with session.post(base_url + path, json=body, headers=headers or {}) as response:
        try:
            await response.read()
        except aiohttp.ClientPayloadError:
            pass  # a cut answer: its status and fault header are what these tests read
        return response.status, response.headers.get("x-tokenstorm-fault")


def test_one_route_shows_and_swaps_the_profile(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_settings([])) as base_url, aiohttp.ClientSession() as session:
            url = base_url + ROUTE
            async with session.put(url, json={"profile": "demo"}) as response:
                assert response.status == 200
                answer = await response.json()
            assert answer["name"] == "demo" and "demo" not in answer
            assert [rule["kind"] for rule in answer["rule"]] == [
                "http_429",
                "http_500",
                "http_503",
                "cut",
            ]
            async with session.get(url) as response:
                assert await response.json() == answer
            # The old name of the route, and the demo table it took, are gone.
            async with session.get(base_url + "/tokenstorm/admin/faults") as response:
                assert response.status == 404
            async with session.put(url, json={"demo": {"http_500": 1.0}}) as response:
                assert response.status == 400
                message = (await response.json())["error"]["message"]
                assert message.startswith(f"PUT {ROUTE}: demo: unknown field")
            async with session.get(url) as response:
                assert await response.json() == answer  # a bad PUT changes nothing
            # The GET document goes back in as it is.
            http_500 = {**answer, "rule": [{**answer["rule"][1], "probability": 1.0}]}
            async with session.put(url, json=http_500) as response:
                assert response.status == 200
            assert (await _call(session, base_url, _CHAT))[0] == 500
            async with session.put(url, json={"rule": []}) as response:
                assert (await response.json())["rule"] == []
            assert (await _call(session, base_url, _CHAT))[0] == 200

    asyncio.run(scenario())


def test_fault_updates_are_parsed_with_one_line_errors() -> None:
    profile = profile_from_json(b'{"rule": [{"kind": "cut"}]}')
    assert profile.rule[0].kind is FaultKind.CUT
    assert profile_from_json(b'{"profile": "demo"}') == load_profile("demo")
    for raw, words in (
        (b"[1]", "JSON object"),
        (b"{", "not JSON"),
        (b'{"profile": "nope"}', "no such fault profile"),
        (b'{"http_429": 0.5}', "http_429: unknown field"),
    ):
        with pytest.raises(ProfileError, match=words) as caught:
            profile_from_json(raw)
        assert "\n" not in str(caught.value)


def test_targets_name_known_flavours_only() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(
            {"rule": [{"kind": "http_500", "targets": {"apis": ["openai-embedding"]}}]}, "p.toml"
        )
    assert str(caught.value).startswith("p.toml: rule[0].targets")
    assert "unknown API flavour 'openai-embedding'" in str(caught.value)
    assert "openai-completions, openai-embeddings" in str(caught.value)


@pytest.mark.parametrize("api", API_FLAVOURS)
@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda k: k.value)
def test_an_untargeted_rule_reaches_every_flavour_where_it_makes_sense(
    api: str, kind: FaultKind
) -> None:
    profile = parse_profile({"rule": [{"kind": kind.value}]}, "p")
    chosen = choose(profile, AttemptContext(1.0, "d", "m", api, False), 0.5)
    stream_fault = CATALOGUE[kind].phase is Phase.STREAM
    if api == "openai-embeddings" and stream_fault:
        assert chosen is None and not applies(kind, api)
    else:
        assert chosen is not None and chosen.kind is kind


def test_flavour_targets_split_completions_and_embeddings(serving: Serving) -> None:
    rules = [
        {"kind": "http_503", "targets": {"apis": ["openai-embeddings"]}},
        {"kind": "http_429", "targets": {"apis": ["openai-completions"]}},
        {"kind": "http_500", "targets": {"apis": ["openai-chat"]}},
    ]

    async def scenario() -> None:
        async with serving(_settings(rules)) as base_url, aiohttp.ClientSession() as session:
            assert await _call(session, base_url, _EMBEDDINGS) == (503, "http_503")
            assert await _call(session, base_url, _COMPLETIONS) == (429, "http_429")
            assert await _call(session, base_url, _CHAT) == (500, "http_500")

    asyncio.run(scenario())


def test_embeddings_take_the_faults_before_the_answer(
    serving: Serving, ledger_of: Callable[..., Awaitable[list[LedgerEntry]]]
) -> None:
    async def scenario() -> None:
        # A cut rule means nothing to embeddings: it leaves them alone, hits the rest.
        async with (
            serving(_settings([{"kind": "cut", "params": {"after_tokens": 1}}])) as base_url,
            aiohttp.ClientSession() as session,
        ):
            assert await _call(session, base_url, _EMBEDDINGS) == (200, None)
            assert (await _call(session, base_url, _COMPLETIONS))[1] == "cut"

            def forced(header: str) -> dict[str, str]:
                return {
                    "x-tokenstorm-fault": header,
                    "x-tokenstorm-run-id": "emb",
                    "x-tokenstorm-request-id": header.split(";")[0],
                }

            assert await _call(session, base_url, _EMBEDDINGS, forced("http_429")) == (
                429,
                "http_429",
            )
            assert await _call(session, base_url, _EMBEDDINGS, forced("overloaded_529")) == (
                529,
                "overloaded_529",
            )
            assert await _call(session, base_url, _EMBEDDINGS, forced("delay; delay_ms=50")) == (
                200,
                "delay",
            )
            with pytest.raises(aiohttp.ClientError):
                await _call(session, base_url, _EMBEDDINGS, forced("down"))
            with pytest.raises(asyncio.TimeoutError):
                async with asyncio.timeout(0.3):
                    await _call(session, base_url, _EMBEDDINGS, forced("hang; hang_s=5"))
            status, _ = await _call(session, base_url, _EMBEDDINGS, forced("stall"))
            assert status == 400
            # The hung attempt's line lands once the server learns it was given up.
            entries = await ledger_of(session, base_url, run_id="emb", at_least=6)
            seen = {entry.request_id: (entry.api, entry.fault, entry.outcome) for entry in entries}
            assert seen == {
                "http_429": ("openai-embeddings", "http_429", "http_429"),
                "overloaded_529": ("openai-embeddings", "overloaded_529", "http_5xx"),
                "delay": ("openai-embeddings", "delay", "ok"),
                "down": ("openai-embeddings", "down", "reset"),
                "hang": ("openai-embeddings", "hang", "timeout_first_token"),
                "stall": ("openai-embeddings", None, "http_4xx"),
            }

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("header", "outcome"),
    [
        ("cut; after_tokens=2", "stream_cut"),
        ("error_event; after_tokens=2", "stream_error"),
        ("drop_usage", "ok"),
        ("wrong_usage; usage_factor=3", "ok"),
    ],
)
def test_stream_faults_reach_text_completions(serving: Serving, header: str, outcome: str) -> None:
    body = {
        "model": "m",
        "prompt": "hi there",
        "max_tokens": 4,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def scenario() -> None:
        async with serving(_settings([])) as base_url, aiohttp.ClientSession() as session:
            async with session.post(
                base_url + "/v1/completions",
                json=body,
                headers={
                    "x-tokenstorm-fault": header,
                    "x-tokenstorm-run-id": "text",
                    "x-tokenstorm-request-id": "r1",
                },
            ) as response:
                events = [
                    line.removeprefix(b"data: ")
                    for line in (await response.read()).splitlines()
                    if line.startswith(b"data: ")
                ]
            texts = [
                orjson.loads(e)["choices"][0]["text"]
                for e in events
                if e.startswith(b'{"id"') and orjson.loads(e)["choices"]
            ]
            usages = [
                orjson.loads(e)["usage"]
                for e in events
                if e.startswith(b"{") and orjson.loads(e).get("usage")
            ]
            kind = header.split(";")[0]
            assert (events[-1] == b"[DONE]") == (kind in ("drop_usage", "wrong_usage"))
            if kind == "cut":
                assert len(texts) == 2
            if kind == "error_event":
                assert orjson.loads(events[-1])["error"]["type"] == "server_error"
            if kind == "drop_usage":
                assert usages == []
            if kind == "wrong_usage":
                assert [u["completion_tokens"] for u in usages] == [12]
            async with session.get(
                base_url + "/tokenstorm/ledger", params={"run_id": "text"}
            ) as response:
                [entry] = [orjson.loads(line) for line in (await response.text()).splitlines()]
            assert (entry["api"], entry["fault"], entry["outcome"]) == (
                "openai-completions",
                kind,
                outcome,
            )

    asyncio.run(scenario())
