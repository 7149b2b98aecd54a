"""Throughput of the mock server on one core: streamed requests per second and its CPU cost.

Starts the mock as a child process pinned to core 0 with a zero-latency constant profile
(``constant_settings(0, 0, 32)``; ``--mode engine``: a batching engine whose steps cost
nothing, so every token is its own write), drives it from this process (pinned elsewhere when there
is another core) with aiohttp at a fixed concurrency of streaming requests, and prints the
completed streams per second and the mock's CPU time per request (from /proc/<pid>/stat).

    .venv/bin/python bench/mock_throughput.py [--duration 5] [--concurrency 64]
        [--api openai-chat|anthropic-messages] [--mode constant|engine]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

# Run as a plain script from a checkout: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from pinning import pin_apart

from harness.contract.apis import ANTHROPIC_MESSAGES, OPENAI_CHAT
from mock_models.embedded import EmbeddedMock
from mock_models.settings import (
    DeploymentSettings,
    EngineSettings,
    MockSettings,
    constant_settings,
)

_REQUESTS = {
    OPENAI_CHAT: (
        "/v1/chat/completions",
        b"data: [DONE]\n\n",
        {
            "model": "mock",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "tell me a story about a benchmark"}],
        },
    ),
    ANTHROPIC_MESSAGES: (
        "/v1/messages",
        b"event: message_stop",
        {
            "model": "mock",
            "stream": True,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "tell me a story about a benchmark"}],
        },
    ),
}


def zero_latency(mode: str) -> MockSettings:
    """32 tokens per answer, no latency, in either latency model."""
    if mode == "constant":
        return constant_settings(ttft_ms=0, itl_ms=0, output_tokens=32)
    engine = EngineSettings(
        max_num_seqs=1024, step_base_ms=0.0, prefill_ms_per_token=0.0, decode_ms_per_seq=0.0
    )
    return MockSettings(
        deployments=(
            DeploymentSettings(
                name="engine",
                model="mock",
                jitter=0.0,
                output_tokens=32,
                output_tokens_sigma=0.0,
                engine=engine,
            ),
        )
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; fields after its closing ")" are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


async def drive(
    base_url: str, api: str, concurrency: int, duration_s: float, pid: int
) -> tuple[int, int, float, float]:
    path, terminator, body = _REQUESTS[api]
    url = base_url + path
    completed = failed = 0
    measuring = False
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(stop_at: float) -> None:
            nonlocal completed, failed
            while time.monotonic() < stop_at:
                async with session.post(url, json=body) as response:
                    raw = await response.read()
                if not measuring:
                    continue
                if response.status == 200 and terminator in raw:
                    completed += 1
                else:
                    failed += 1

        # A short warm-up so connection set-up is not counted.
        await asyncio.gather(*(worker(time.monotonic() + 0.5) for _ in range(concurrency)))
        measuring = True
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        await asyncio.gather(*(worker(wall_before + duration_s) for _ in range(concurrency)))
        cpu_s, wall_s = cpu_seconds(pid) - cpu_before, time.monotonic() - wall_before
    return completed, failed, cpu_s, wall_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--api", choices=sorted(_REQUESTS), default=OPENAI_CHAT)
    parser.add_argument("--mode", choices=("constant", "engine"), default="constant")
    args = parser.parse_args()
    with EmbeddedMock(zero_latency(args.mode)) as mock:
        mock_core, client_cores = pin_apart(mock.pid)
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            run = asyncio.run
        completed, failed, cpu_s, wall_s = run(
            drive(mock.base_url, args.api, args.concurrency, args.duration, mock.pid)
        )
    rate = completed / wall_s
    print(
        f"mode={args.mode} api={args.api} concurrency={args.concurrency} duration_s={wall_s:.1f} "
        f"mock_core={mock_core} client_cores={client_cores}"
    )
    print(f"completed streamed requests/s: {rate:.0f}   (failed: {failed})")
    print(
        f"mock CPU per request: {cpu_s / max(completed, 1) * 1e3:.3f} ms   "
        f"mock CPU busy: {cpu_s / wall_s:.0%} of one core"
    )
    if cpu_s / wall_s < 0.85 and cpu_s > 0:
        print(
            "note: the mock's core was not saturated, so the client was the bottleneck; "
            f"one mock core would serve about {completed / cpu_s:.0f} requests/s"
        )
    return 0 if completed and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
