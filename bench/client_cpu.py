"""Client CPU per streamed request: tokenstorm's client beside native httpx, same run.

The mock runs in a child process pinned to core 0 (constant profile, zero latency, 32 tokens
per answer); this process is pinned to core 1 and drives it with N concurrent workers, one
client at a time, for the same duration each. Each client does the same work per request:
send, read the SSE stream, decode every event's JSON. Printed: completed requests per second
and this process's CPU milliseconds per request (``time.process_time``), and each client's
ratio to tokenstorm's.

    .venv/bin/python bench/client_cpu.py [--duration 5] [--concurrency 64] [--tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson
from pinning import pin_apart

from harness.client.http import HttpClient
from harness.contract.apis import OPENAI_CHAT
from harness.contract.outcomes import Outcome
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

MESSAGES = [{"role": "user", "content": "tell me a story about a benchmark " * 8}]
Send = Callable[[], Awaitable[bool]]


def _body(tokens: int) -> dict[str, object]:
    return {
        "model": "mock",
        "messages": MESSAGES,
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def _measure(send: Send, concurrency: int, duration_s: float) -> tuple[int, int, float]:
    """(completed, failed, cpu seconds) over ``duration_s`` of ``concurrency`` workers."""
    completed = failed = 0
    await asyncio.gather(*(send() for _ in range(concurrency)))  # warm the pools
    stop_at = time.monotonic() + duration_s
    cpu_start = time.process_time()

    async def worker() -> None:
        nonlocal completed, failed
        while time.monotonic() < stop_at:
            if await send():
                completed += 1
            else:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return completed, failed, time.process_time() - cpu_start


async def _tokenstorm(
    url: str, tokens: int, concurrency: int, duration_s: float
) -> tuple[int, int, float]:
    client = HttpClient(url, OPENAI_CHAT, max_connections=concurrency)

    async def send() -> bool:
        result = await client.send(
            model="mock", messages=MESSAGES, max_tokens=tokens, stream=True, timeout_s=30.0
        )
        return result.outcome is Outcome.OK and result.completion_tokens == tokens

    try:
        return await _measure(send, concurrency, duration_s)
    finally:
        await client.close()


async def _httpx(
    url: str,
    tokens: int,
    concurrency: int,
    duration_s: float,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[int, int, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    body = _body(tokens)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, transport=transport) as client:

        async def send() -> bool:
            content = 0
            async with client.stream("POST", url + "/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        chunk = orjson.loads(line[6:])
                        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                            content += 1
            return response.status_code == 200 and content == tokens

        return await _measure(send, concurrency, duration_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument(
        "--itl-ms",
        type=float,
        default=0.0,
        help="gap between tokens (0: the mock writes as fast as it can, so "
        "chunks coalesce; >0: one read per token, as in real streams)",
    )
    args = parser.parse_args()
    with EmbeddedMock(constant_settings(0.0, args.itl_ms, args.tokens)) as mock:
        mock_core, client_cores = pin_apart(mock.pid)
        url = mock.api_url
        contenders: list[tuple[str, Callable[[], Awaitable[tuple[int, int, float]]]]] = [
            (
                "tokenstorm (aiohttp)",
                lambda: _tokenstorm(url, args.tokens, args.concurrency, args.duration),
            ),
            (
                "httpx native",
                lambda: _httpx(url, args.tokens, args.concurrency, args.duration, None),
            ),
        ]
        try:
            from httpx_aiohttp import AiohttpTransport

            contenders.append(
                (
                    "httpx + httpx-aiohttp",
                    lambda: _httpx(
                        url, args.tokens, args.concurrency, args.duration, AiohttpTransport()
                    ),
                )
            )
        except ImportError:
            pass
        print(
            f"{args.concurrency} concurrent streams of {args.tokens} tokens "
            f"{args.itl_ms:g} ms apart, "
            f"{args.duration:.0f} s each, client on cores {client_cores}, "
            f"mock on core {mock_core}"
        )
        print(f"{'client':24} {'req/s':>8} {'failed':>7} {'CPU ms/req':>11} {'vs ours':>8}")
        ours_ms = None
        for name, run in contenders:
            completed, failed, cpu_s = asyncio.run(run())
            per_ms = cpu_s / max(completed, 1) * 1000
            ours_ms = ours_ms or per_ms
            print(
                f"{name:24} {completed / args.duration:8.0f} {failed:7d} {per_ms:11.3f} "
                f"{per_ms / ours_ms:7.1f}x"
            )


if __name__ == "__main__":
    main()
