"""Repeated context through the HTTP API: reported as cached, billed cheaper, answered faster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import orjson
import pytest

from harness.cost import load_price_book
from harness.prompt_text import synthetic_text
from harness.records import LedgerEntry
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_CONTEXT = synthetic_text(3000, 11)  # a "context pack" every request starts with
_ENGINE = EngineSettings(step_base_ms=1.0, prefill_ms_per_token=0.05, decode_ms_per_seq=0.0,
                         max_num_batched_tokens=8192, prefix_cache_blocks=1000)
_SETTINGS = MockSettings(seed=1, deployments=(DeploymentSettings(
    name="small-fast", model="mock-small", jitter=0.0, output_tokens=4,
    output_tokens_sigma=0.0, engine=_ENGINE),))


def _request(api: str, question: str) -> tuple[str, dict[str, Any]]:
    if api == "openai-chat":
        return "/v1/chat/completions", {
            "model": "mock-small", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": _CONTEXT},
                         {"role": "user", "content": question}]}
    return "/v1/messages", {"model": "mock-small", "stream": True, "max_tokens": 50,
                            "system": _CONTEXT,
                            "messages": [{"role": "user", "content": question}]}


def _usage(api: str, raw: bytes) -> dict[str, int]:
    documents = [orjson.loads(line[6:]) for line in raw.splitlines()
                 if line.startswith(b"data: {")]
    if api == "openai-chat":
        usage = documents[-1]["usage"]
        return {"prompt": usage["prompt_tokens"],
                "cached": usage["prompt_tokens_details"]["cached_tokens"]}
    start = next(d for d in documents if d["type"] == "message_start")["message"]["usage"]
    final = next(d for d in documents if d["type"] == "message_delta")["usage"]
    assert start["cache_read_input_tokens"] == final["cache_read_input_tokens"]
    return {"prompt": final["input_tokens"] + final["cache_read_input_tokens"],
            "cached": final["cache_read_input_tokens"]}


def _carries_a_token(lines: list[bytes]) -> bool:
    return any(b'"text_delta"' in line or (b'"content":"' in line
                                           and b'"content":""' not in line) for line in lines)


@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages"])
def test_repeated_context_is_cached_cheaper_and_faster(serving: Serving, ledger_of: LedgerOf,
                                                       api: str) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, aiohttp.ClientSession() as session:
            ttfts, usages = [], []
            for index, question in enumerate(("what is in it", "and what else is there")):
                path, body = _request(api, question)
                sent = time.perf_counter()
                async with session.post(base_url + path, json=body, headers={
                        "x-tokenstorm-request-id": f"q{index}"}) as response:
                    head = b""
                    while not _carries_a_token(head.rsplit(b"\n", 2)[-2:]):
                        head += await response.content.readline()
                    ttfts.append(time.perf_counter() - sent)
                    usages.append(_usage(api, head + await response.read()))
            entries = await ledger_of(session, base_url)
        assert usages[0]["cached"] == 0
        # The context's 187 full blocks of 16 hit; the question's tokens do not.
        assert usages[1]["cached"] == 3000 // 16 * 16
        assert usages[1]["prompt"] == 3000 + len("and what else is there".split())
        # 3,000 prefill tokens at 0.05 ms are 150 ms; the cached request prefills a handful.
        assert ttfts[1] < ttfts[0] / 3
        assert [e.cached_tokens for e in entries] == [u["cached"] for u in usages]
        prices = load_price_book({})
        costs = [prices.cost_usd(e.model, e.deployment, e.prompt_tokens, e.cached_tokens,
                                 e.completion_tokens) for e in entries]
        assert costs[0] is not None and costs[1] is not None
        assert costs[1] < costs[0] * 0.7

    asyncio.run(scenario())
