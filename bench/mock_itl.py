"""Inter-token latency of the mock under many open streams, as a client measures it, and the
mock's memory per open stream.

Starts the mock as a child process pinned to core 0, then holds ``--streams`` concurrent
streamed chat completions open from this process (pinned to the other cores) for
``--duration`` seconds, replacing each stream as it ends. The client is a bare asyncio
protocol on uvloop (no HTTP library), stamping every received chunk, so that its own cost per
token is a few microseconds and it can keep up with 2,000 streams on one core. Prints the
gaps between consecutive tokens of a stream (p50/p99/p99.9 against the configured ITL), the
mock's and the client's CPU shares over the steady state (the mock's split into user and
system time), the mock's resident memory per open stream, and the kernel floor: the CPU one
loopback send of a token costs on the mock's core, times the token rate (each token of each
stream is one send, so no Python code can take less).

Two mock modes, measured side by side by default: ``constant`` (``constant_settings``: a
fixed ITL per stream) and ``engine`` (a batching engine whose steps take exactly the ITL).

    .venv/bin/python bench/mock_itl.py [--streams 2000] [--itl-ms 20] [--duration 10]
        [--mode constant|engine|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson
from pinning import pin_apart

from bench.mock_throughput import cpu_seconds
from mock_models.embedded import EmbeddedMock
from mock_models.settings import (
    DeploymentSettings,
    EngineSettings,
    MockSettings,
)

_OUTPUT_TOKENS = 100
#: The gaps of the last measurement (for a closer look from a REPL).
LAST_GAPS_MS: list[float] = []
_TOKEN_MARK = b'"content":"'
_EMPTY_MARK = b'"content":""'


def _settings(mode: str, itl_ms: float, streams: int) -> MockSettings:
    # Output lengths vary (as real ones do) so that streams do not all end, and come back,
    # in the same step; the ITL itself is exact.
    if mode == "constant":
        constant = DeploymentSettings(name="constant", model="mock", ttft_ms=itl_ms,
                                      prefill_ms_per_token=0.0, itl_ms=itl_ms, jitter=0.0,
                                      output_tokens=_OUTPUT_TOKENS, output_tokens_sigma=0.5)
        return MockSettings(deployments=(constant,))
    engine = EngineSettings(max_num_seqs=streams + 100, max_waiting_seqs=streams,
                            max_num_batched_tokens=1_000_000, step_base_ms=itl_ms,
                            prefill_ms_per_token=0.0, decode_ms_per_seq=0.0)
    deployment = DeploymentSettings(name="engine", model="mock", jitter=0.0,
                                    output_tokens=_OUTPUT_TOKENS, output_tokens_sigma=0.5,
                                    engine=engine)
    return MockSettings(deployments=(deployment,))


def _request(port: int) -> bytes:
    body = orjson.dumps({"model": "mock", "stream": True,
                         "messages": [{"role": "user", "content": "hold this stream open"}]})
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
            % (port, len(body), body))


class _Stream(asyncio.Protocol):
    """One keep-alive connection issuing one streamed request after another."""

    def __init__(self, request: bytes, gaps: list[float], stop_at: float) -> None:
        self._request = request
        self._gaps = gaps
        self._stop_at = stop_at
        self._last = 0.0
        self._tokens = 0
        self._tail = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence the cast.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        # A read may end inside a mark: count over the previous read's tail too (shorter
        # than a mark, so nothing is counted twice).
        seen = self._tail + data
        self._tail = data[-(len(_TOKEN_MARK) - 1):]
        count = seen.count(_TOKEN_MARK) - seen.count(_EMPTY_MARK)
        if count > 0:
            if self._tokens:
                self._gaps.append(now - self._last)
                self._gaps.extend([0.0] * (count - 1))
            self._tokens += count
            self._last = now
        if data.endswith(b"0\r\n\r\n"):  # the end of one chunked answer
            self._tokens = 0
            assert self._transport is not None
            if time.monotonic() < self._stop_at:
                self._transport.write(self._request)
            else:
                self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _cpu_split_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def _send_floor_us(core: int, sockets: int, rounds: int = 20) -> float:
    """CPU microseconds the kernel takes to send one token-sized chunk over loopback TCP on
    ``core``, over as many sockets as streams (their cache footprint counts): no Python code
    can go below it, as every token of every stream is one send."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    listener = socket.create_server(("127.0.0.1", 0), backlog=sockets)
    port = listener.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(sockets)]
    servers = [listener.accept()[0] for _ in range(sockets)]
    chunk = b"x" * 200
    try:
        for conn in servers:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The receivers never read: rounds x chunk stays far below a socket's buffer, and a
        # read here would add its own cost to the figure.
        started = time.thread_time()
        for _ in range(rounds):
            for conn in servers:
                conn.send(chunk)
        return (time.thread_time() - started) / (rounds * sockets) * 1e6
    finally:
        for conn in (*servers, *clients, listener):
            conn.close()
        os.sched_setaffinity(0, previous)


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _drive(port: int, pid: int, streams: int, duration_s: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    request = _request(port)
    gaps: list[float] = []
    rss_idle = _rss_bytes(pid)
    stop_at = time.monotonic() + duration_s
    protocols = []
    # Streams open over one second, not all in the same instant.
    for index in range(streams):
        _, protocol = await loop.create_connection(
            lambda: _Stream(request, gaps, stop_at), "127.0.0.1", port)
        protocols.append(protocol)
        if index % 100 == 99:
            await asyncio.sleep(100 / streams)
    await asyncio.sleep(min(2.0, duration_s / 3))
    gaps.clear()  # the opening ramp is not steady state
    split_before = _cpu_split_s(pid)
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    client_cpu_before = time.process_time()
    rss_open = _rss_bytes(pid)
    # CPU shares over the steady state only: the drain after ``stop_at`` carries fewer streams.
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    cpu_s, wall_s = cpu_seconds(pid) - cpu_before, time.monotonic() - wall_before
    split_after = _cpu_split_s(pid)
    client_cpu_s = time.process_time() - client_cpu_before
    await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), 30)
    values = np.array(gaps) * 1000.0
    LAST_GAPS_MS[:] = values.tolist()
    return {"tokens": float(len(values)), "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99)), "p999": float(np.percentile(values, 99.9)),
            "mean": float(values.mean()), "cpu": cpu_s / wall_s,
            "client_cpu": client_cpu_s / wall_s,
            "user": (split_after[0] - split_before[0]) / wall_s,
            "system": (split_after[1] - split_before[1]) / wall_s,
            "rss_per_stream": (rss_open - rss_idle) / streams}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--mode", choices=("constant", "engine", "both"), default="both")
    args = parser.parse_args()
    import uvloop

    modes = ("constant", "engine") if args.mode == "both" else (args.mode,)
    within = True
    all_cores = os.sched_getaffinity(0)
    floor_us = _send_floor_us(min(all_cores), sockets=args.streams)
    tokens_per_s = args.streams * 1000.0 / args.itl_ms
    for mode in modes:
        # pin_apart narrowed this process to the client cores; the next mode starts afresh.
        os.sched_setaffinity(0, all_cores)
        with EmbeddedMock(_settings(mode, args.itl_ms, args.streams)) as mock:
            mock_core, client_cores = pin_apart(mock.pid)
            port = int(mock.base_url.rsplit(":", 1)[1])
            result = uvloop.run(_drive(port, mock.pid, args.streams, args.duration))
        print(f"mode={mode} streams={args.streams} itl_ms={args.itl_ms:g} "
              f"mock_core={mock_core} client_cores={client_cores} "
              f"tokens_measured={result['tokens']:.0f}")
        print(f"  client-measured ITL ms: mean {result['mean']:.2f}  p50 {result['p50']:.2f}  "
              f"p99 {result['p99']:.2f}  p99.9 {result['p999']:.2f}   "
              f"(p99 - configured: {result['p99'] - args.itl_ms:+.2f} ms)")
        print(f"  steady-state CPU busy: mock {result['cpu']:.0%} of one core   "
              f"client {result['client_cpu']:.0%}   "
              f"mock memory per open stream: {result['rss_per_stream'] / 1024:.1f} KiB")
        print(f"  mock CPU split: user {result['user']:.0%}  system {result['system']:.0%}"
              f"   kernel floor: {floor_us:.1f} us per token send = "
              f"{floor_us * tokens_per_s / 1e6:.0%} of one core at {tokens_per_s:,.0f} tokens/s")
        within = within and abs(result["p99"] - args.itl_ms) <= 2.0
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
