"""Rate limits: token buckets per key and per deployment, with the providers' headers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import anthropic
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.contract.records import LedgerEntry
from mock_models.settings import DeploymentSettings, MockSettings, RateLimitSettings
from mock_models.sim.rate_limits import RateLimiter, TokenBucket

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]


def test_requests_bucket_refuses_then_refills() -> None:
    limiter = RateLimiter((RateLimitSettings(requests_per_minute=3),))
    verdicts = [limiter.check("k", 10, 0.0, 1000.0) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[0].headers["x-ratelimit-limit-requests"] == "3"
    assert [v.headers["x-ratelimit-remaining-requests"] for v in verdicts] == ["2", "1", "0", "0"]
    refused = verdicts[3]
    assert refused.retry_after_s == pytest.approx(20.0)  # one request per 20 s
    assert refused.headers["retry-after"] == "20" and refused.headers["retry-after-ms"] == "20000"
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert refused.headers["anthropic-ratelimit-requests-reset"] == "1970-01-01T00:17:40Z"
    assert "x-ratelimit-limit-tokens" not in refused.headers
    assert limiter.check("k", 10, 19.9, 1019.9).allowed is False
    assert limiter.check("k", 10, 20.0, 1020.0).allowed is True


def test_per_key_limits_keep_keys_apart_and_deployment_limits_do_not() -> None:
    per_key = RateLimiter((RateLimitSettings(tokens_per_minute=100, per="key"),))
    assert per_key.check("a", 80, 0.0, 0.0).allowed
    assert not per_key.check("a", 80, 0.0, 0.0).allowed
    assert per_key.check("b", 80, 0.0, 0.0).allowed
    shared = RateLimiter((RateLimitSettings(tokens_per_minute=100),))
    assert shared.check("a", 80, 0.0, 0.0).allowed
    assert not shared.check("b", 80, 0.0, 0.0).allowed


def test_a_refusal_by_one_limit_charges_no_other() -> None:
    limiter = RateLimiter(
        (RateLimitSettings(requests_per_minute=10), RateLimitSettings(tokens_per_minute=50))
    )
    assert limiter.check("k", 40, 0.0, 0.0).allowed
    assert not limiter.check("k", 20, 0.0, 0.0).allowed  # over the tokens left
    verdict = limiter.check("k", 5, 0.0, 0.0)
    assert verdict.allowed and verdict.headers["x-ratelimit-remaining-requests"] == "8"
    assert verdict.headers["x-ratelimit-remaining-tokens"] == "5"


@given(
    st.integers(min_value=50, max_value=1000),
    st.lists(st.tuples(st.floats(min_value=0, max_value=5), st.integers(1, 50)), max_size=40),
)
def test_a_bucket_never_admits_more_than_capacity_plus_refill(
    capacity: int, requests: list[tuple[float, int]]
) -> None:
    bucket = TokenBucket(capacity, 0.0)
    now, admitted = 0.0, 0
    for step, amount in requests:
        now += step
        if bucket.wait_s(amount, now) == 0.0:
            bucket.take(amount, now)
            admitted += amount
    assert admitted <= capacity + now * capacity / 60.0 + 1e-6


def test_sdks_see_429_with_headers(serving: Serving, ledger_of: LedgerOf) -> None:
    deployment = DeploymentSettings(
        name="limited",
        model="mock-limited",
        ttft_ms=0.0,
        itl_ms=0.0,
        output_tokens=3,
        output_tokens_sigma=0.0,
        rate_limits=(RateLimitSettings(requests_per_minute=2, per="key"),),
    )

    async def scenario() -> None:
        async with serving(MockSettings(seed=1, deployments=(deployment,))) as base_url:
            client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="key-1", max_retries=0)
            messages: list[openai.types.chat.ChatCompletionMessageParam] = [
                {"role": "user", "content": "hi"}
            ]
            ok = await client.chat.completions.with_raw_response.create(
                model="mock-limited", messages=messages
            )
            assert ok.headers["x-ratelimit-remaining-requests"] == "1"
            await client.chat.completions.create(model="mock-limited", messages=messages)
            with pytest.raises(openai.RateLimitError) as refused:
                await client.chat.completions.create(model="mock-limited", messages=messages)
            assert refused.value.response.headers["retry-after"] == "30"
            assert refused.value.code == "rate_limit_exceeded"
            other = anthropic.AsyncAnthropic(base_url=base_url, api_key="key-2", max_retries=0)
            reply = await other.messages.with_raw_response.create(
                model="mock-limited", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.headers["anthropic-ratelimit-requests-remaining"] == "1"
            await client.close()
            await other.close()
            async with aiohttp.ClientSession() as session:
                entries = await ledger_of(session, base_url)
            assert [e.status_code for e in entries] == [200, 200, 429, 200]
            assert entries[2].outcome == "http_429" and entries[2].fault is None

    asyncio.run(scenario())
