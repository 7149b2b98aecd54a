"""Repeated context through the HTTP API: reported as cached and billed cheaper (that cached
tokens are not prefilled, so answered faster, is ``test_kv_engine``'s, on a fake clock).

OpenAI's API caches prefixes by itself; Anthropic's only where ``cache_control`` marks a block
(the first request then pays a cache write, the second reads it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import orjson
import pytest

from harness.contract.prompt_text import synthetic_text
from harness.contract.records import LedgerEntry
from harness.cost import load_price_book
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_CONTEXT = synthetic_text(3000, 11)  # a "context pack" every request starts with
_ENGINE = EngineSettings(
    step_base_ms=1.0,
    prefill_ms_per_token=0.05,
    decode_ms_per_seq=0.0,
    max_num_batched_tokens=8192,
    prefix_cache_blocks=1000,
)
_SETTINGS = MockSettings(
    seed=1,
    deployments=(
        DeploymentSettings(
            name="small-fast",
            model="mock-small",
            jitter=0.0,
            output_tokens=4,
            output_tokens_sigma=0.0,
            engine=_ENGINE,
        ),
    ),
)


_MARKED = [{"type": "text", "text": _CONTEXT, "cache_control": {"type": "ephemeral"}}]


def _request(api: str, question: str) -> tuple[str, dict[str, Any]]:
    if api == "openai-chat":
        return "/v1/chat/completions", {
            "model": "mock-small",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [
                {"role": "system", "content": _CONTEXT},
                {"role": "user", "content": question},
            ],
        }
    return "/v1/messages", {
        "model": "mock-small",
        "stream": True,
        "max_tokens": 50,
        "system": _MARKED if api == "anthropic-messages" else _CONTEXT,
        "messages": [{"role": "user", "content": question}],
    }


def _usage(api: str, raw: bytes) -> dict[str, int]:
    documents = [orjson.loads(line[6:]) for line in raw.splitlines() if line.startswith(b"data: {")]
    if api == "openai-chat":
        usage = documents[-1]["usage"]
        return {
            "prompt": usage["prompt_tokens"],
            "cached": usage["prompt_tokens_details"]["cached_tokens"],
            "written": 0,
        }
    start = next(d for d in documents if d["type"] == "message_start")["message"]["usage"]
    final = next(d for d in documents if d["type"] == "message_delta")["usage"]
    for key in ("cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation"):
        assert start[key] == final[key]
    written = final["cache_creation_input_tokens"]
    assert final["cache_creation"] == {
        "ephemeral_5m_input_tokens": written,
        "ephemeral_1h_input_tokens": 0,
    }
    return {
        "prompt": final["input_tokens"] + final["cache_read_input_tokens"] + written,
        "cached": final["cache_read_input_tokens"],
        "written": written,
    }


@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages"])
def test_repeated_context_is_cached_and_cheaper(
    serving: Serving, ledger_of: LedgerOf, api: str
) -> None:
    """OpenAI: automatic block hits; Anthropic: the marked context is written, then read."""

    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, aiohttp.ClientSession() as session:
            usages = []
            for index, question in enumerate(("what is in it", "and what else is there")):
                path, body = _request(api, question)
                async with session.post(
                    base_url + path, json=body, headers={"x-tokenstorm-request-id": f"q{index}"}
                ) as response:
                    usages.append(_usage(api, await response.read()))
            entries = await ledger_of(session, base_url)
        assert usages[0]["cached"] == 0
        if api == "openai-chat":
            # The context's 187 full blocks of 16 hit; the question's tokens do not.
            assert usages[1]["cached"] == 3000 // 16 * 16
        else:
            # Exactly the marked block: written by the first request, read by the second.
            assert [u["written"] for u in usages] == [3000, 0]
            assert usages[1]["cached"] == 3000
        assert usages[1]["prompt"] == 3000 + len("and what else is there".split())
        assert [e.cached_tokens for e in entries] == [u["cached"] for u in usages]
        assert [e.cache_write_tokens for e in entries] == [u["written"] for u in usages]
        prices = load_price_book({})
        costs = [
            prices.cost_usd(
                e.model,
                e.deployment,
                e.prompt_tokens,
                e.cached_tokens,
                e.completion_tokens,
                e.cache_write_tokens,
            )
            for e in entries
        ]
        assert costs[0] is not None and costs[1] is not None
        assert costs[1] < costs[0] * 0.7

    asyncio.run(scenario())


def test_anthropic_without_cache_control_caches_nothing(
    serving: Serving, ledger_of: LedgerOf
) -> None:
    """As on Anthropic's API: an unmarked repeated prompt is neither read nor written, and
    costs its full prefill every time."""

    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, aiohttp.ClientSession() as session:
            usages = []
            for question in ("what is in it", "and what else is there"):
                _, body = _request("anthropic-messages", question)
                body["system"] = _CONTEXT
                async with session.post(base_url + "/v1/messages", json=body) as response:
                    usages.append(_usage("anthropic-messages", await response.read()))
            entries = await ledger_of(session, base_url)
        assert [(u["cached"], u["written"]) for u in usages] == [(0, 0), (0, 0)]
        assert [(e.cached_tokens, e.cache_write_tokens) for e in entries] == [(0, 0), (0, 0)]

    asyncio.run(scenario())


def test_a_request_refused_by_a_full_queue_writes_no_cache_entry(
    serving: Serving, ledger_of: LedgerOf
) -> None:
    """The second request is refused (one slot, no waiting room): it must not store the
    entry it would have written, so the third, sent after the first ends, still writes it."""
    engine = _ENGINE.model_copy(
        update={"max_num_seqs": 1, "max_waiting_seqs": 0, "decode_ms_per_seq": 20.0}
    )
    settings = MockSettings(
        seed=1,
        deployments=(
            DeploymentSettings(
                name="small-fast",
                model="mock-small",
                jitter=0.0,
                output_tokens=4,
                output_tokens_sigma=0.0,
                engine=engine,
            ),
        ),
    )
    first_body = _request("anthropic-messages", "what is in it")[1]
    other = [
        {"type": "text", "text": synthetic_text(3000, 12), "cache_control": {"type": "ephemeral"}}
    ]

    async def scenario() -> None:
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            url = base_url + "/v1/messages"
            # A stream's headers leave once its sequence is in the engine: the slot is taken.
            busy = await session.post(url, json=first_body)
            async with session.post(url, json={**first_body, "system": other}) as refused:
                assert refused.status == 429
            async with busy as response:
                await response.read()
            async with session.post(url, json={**first_body, "system": other}) as third:
                usage = _usage("anthropic-messages", await third.read())
            entries = await ledger_of(session, base_url)
        assert (usage["cached"], usage["written"]) == (0, 3000)
        assert [e.cache_write_tokens for e in entries if e.status_code == 200] == [3000, 3000]

    asyncio.run(scenario())
