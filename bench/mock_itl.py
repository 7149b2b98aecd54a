"""Inter-token latency of the mock under many open streams, as a client measures it, and the
mock's memory per open stream.

Starts the mock as a child process pinned to core 0, then holds ``--streams`` concurrent
streamed chat completions open from this process (pinned to the other cores) for
``--duration`` seconds once all are open, replacing each stream as it ends. The client is a
bare asyncio protocol on uvloop (no HTTP library), stamping every received chunk, so that its
own cost per token is a few microseconds and it can keep up with 2,000 streams on one core.
Prints the
gaps between consecutive tokens of a stream (p50/p99/p99.9 against the configured ITL), the
mock's and the client's CPU shares over the steady state (the mock's split into user and
system time), the mock's resident memory per open stream, and the kernel floor: the CPU one
loopback send of a token costs on the mock's core, times the token rate (each token of each
stream is one send, so no Python code can take less); then the mock's own account of falling
behind, from its ledger (``lag_ms``), beside what the client measured.

``--workers 1 2`` measures a one-process mock (pinned as above) and then a fleet of 2 workers
(``tokenstorm mock --workers 2``: nothing pinned, the workers and the client share every
core; CPU and memory are summed over the workers), side by side in one run.

Two mock modes, measured side by side by default: ``constant`` (``constant_settings``: a
fixed ITL per stream) and ``engine`` (a batching engine whose steps take exactly the ITL).
``--baseline-root DIR`` (a copy of an older tree, e.g. ``git archive HEAD | tar -x -C DIR``)
runs that tree's mock alternately with this one, ``--repeat`` rounds, so that a before/after
comparison shares the machine's conditions; a table of medians and ranges ends the output.

    .venv/bin/python bench/mock_itl.py [--streams 2000] [--itl-ms 20] [--duration 10]
        [--mode constant|engine|both] [--baseline-root DIR] [--repeat N] [--output-tokens N]
        [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson
from pinning import pin_apart

import mock_models.embedded as embedded
from bench.mock_throughput import cpu_seconds
from mock_models.embedded import EmbeddedMock
from mock_models.settings import (
    DeploymentSettings,
    EngineSettings,
    MockSettings,
)

#: The gaps of the last measurement (for a closer look from a REPL).
LAST_GAPS_MS: list[float] = []
_TOKEN_MARK = b'"content":"'
_EMPTY_MARK = b'"content":""'


def _settings(mode: str, itl_ms: float, streams: int, output_tokens: int) -> MockSettings:
    # Output lengths vary (as real ones do) so that streams do not all end, and come back,
    # in the same step; the ITL itself is exact.
    if mode == "constant":
        constant = DeploymentSettings(
            name="constant",
            model="mock",
            ttft_ms=itl_ms,
            prefill_ms_per_token=0.0,
            itl_ms=itl_ms,
            jitter=0.0,
            output_tokens=output_tokens,
            output_tokens_sigma=0.5,
        )
        return MockSettings(deployments=(constant,))
    engine = EngineSettings(
        max_num_seqs=streams + 100,
        max_waiting_seqs=streams,
        max_num_batched_tokens=1_000_000,
        step_base_ms=itl_ms,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
    )
    deployment = DeploymentSettings(
        name="engine",
        model="mock",
        jitter=0.0,
        output_tokens=output_tokens,
        output_tokens_sigma=0.5,
        engine=engine,
    )
    return MockSettings(deployments=(deployment,))


def _request(port: int) -> bytes:
    body = orjson.dumps(
        {
            "model": "mock",
            "stream": True,
            "messages": [{"role": "user", "content": "hold this stream open"}],
        }
    )
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (port, len(body), body)
    )


class _Stream(asyncio.Protocol):
    """One keep-alive connection issuing one streamed request after another."""

    def __init__(
        self, request: bytes, gaps: list[float], stop_at: list[float], received: list[int]
    ) -> None:
        self._request = request
        self._gaps = gaps
        #: One counter shared by every stream: tokens received so far.
        self._received = received
        #: Shared: when streams stop replacing themselves (set once all are open).
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
        self._tail = data[-(len(_TOKEN_MARK) - 1) :]
        count = seen.count(_TOKEN_MARK) - seen.count(_EMPTY_MARK)
        if count > 0:
            self._received[0] += count
            if self._tokens:
                self._gaps.append(now - self._last)
                self._gaps.extend([0.0] * (count - 1))
            self._tokens += count
            self._last = now
        if data.endswith(b"0\r\n\r\n"):  # the end of one chunked answer
            self._tokens = 0
            assert self._transport is not None
            if time.monotonic() < self._stop_at[0]:
                self._transport.write(self._request)
            else:
                self._transport.close()

    def abort(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
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
    can go below it, as every token of every stream is one send.

    On loopback the sender's core also runs the receiving socket's TCP input (the packet is
    delivered in the sender's softirq), so this is the client's receive work as well as the
    mock's send: about two thirds of it on the machine these figures were first taken on."""
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


def _sum(measure: Callable[[int], float], pids: list[int]) -> float:
    return sum(measure(pid) for pid in pids)


def _split_sum(pids: list[int]) -> tuple[float, float]:
    splits = [_cpu_split_s(pid) for pid in pids]
    return sum(user for user, _ in splits), sum(system for _, system in splits)


async def _drive(port: int, pids: list[int], streams: int, duration_s: float) -> dict[str, float]:
    """The measurement against a mock whose serving processes are ``pids`` (one, or each
    worker of a fleet: their CPU and memory are summed)."""
    loop = asyncio.get_running_loop()
    request = _request(port)
    gaps: list[float] = []
    received = [0]
    rss_idle = _sum(_rss_bytes, pids)
    # The steady state lasts ``duration_s`` from when every stream is open: on a busy machine
    # opening 2,000 connections can take longer than the whole measurement would.
    stop_at = [float("inf")]
    ramp_started = time.monotonic()
    protocols = []
    # Streams open over one second, not all in the same instant.
    for index in range(streams):
        _, protocol = await loop.create_connection(
            lambda: _Stream(request, gaps, stop_at, received), "127.0.0.1", port
        )
        protocols.append(protocol)
        if index % 100 == 99:
            await asyncio.sleep(100 / streams)
    ramp_s = time.monotonic() - ramp_started
    await asyncio.sleep(min(2.0, duration_s / 3))
    stop_at[0] = time.monotonic() + duration_s
    rss_open = _sum(_rss_bytes, pids)
    # The mock's own account covers the answers finished from here on: its ledger is emptied
    # now (a cheap call, though it blocks this loop for a moment: the gaps are cleared after
    # the loop has caught up) and read at the end.
    _ledger_request(port, "DELETE")
    await asyncio.sleep(0.1)
    gaps.clear()  # the opening ramp is not steady state
    split_before = _split_sum(pids)
    cpu_before, wall_before = _sum(cpu_seconds, pids), time.monotonic()
    client_cpu_before = time.process_time()
    received_before = received[0]
    # CPU shares over the steady state only: the drain after ``stop_at`` carries fewer streams.
    await asyncio.sleep(max(0.0, stop_at[0] - time.monotonic()))
    cpu_s, wall_s = _sum(cpu_seconds, pids) - cpu_before, time.monotonic() - wall_before
    steady_tokens = received[0] - received_before
    split_after = _split_sum(pids)
    client_cpu_s = time.process_time() - client_cpu_before
    # Streams end by themselves after ``stop_at``; long answers would take long, so what is
    # still open after a while is cut (the measurement is over by now).
    _, still_open = await asyncio.wait(
        [asyncio.ensure_future(p.closed) for p in protocols], timeout=10
    )
    if still_open:
        for protocol in protocols:
            protocol.abort()
        await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), 10)
    values = np.array(gaps) * 1000.0
    LAST_GAPS_MS[:] = values.tolist()
    return {
        "tokens": float(len(values)),
        "ramp_s": ramp_s,
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "p999": float(np.percentile(values, 99.9)),
        "mean": float(values.mean()),
        "cpu": cpu_s / wall_s,
        "client_cpu": client_cpu_s / wall_s,
        "user": (split_after[0] - split_before[0]) / wall_s,
        "system": (split_after[1] - split_before[1]) / wall_s,
        "rss_per_stream": (rss_open - rss_idle) / streams,
        "cpu_us_per_token": cpu_s / max(1, steady_tokens) * 1e6,
        # User time only: the Python side, apart from the kernel's sends.
        "user_us_per_token": (split_after[0] - split_before[0]) / max(1, steady_tokens) * 1e6,
        **_own_lag(_ledger_request(port, "GET").splitlines()),
    }


@contextlib.contextmanager
def _code_from(root: str | None) -> Iterator[None]:
    """Start the mock from ``root``'s tree instead of this one (None: this one). The child is
    ``python -m mock_models`` with ``root`` on its path and as its working directory."""
    if root is None:
        yield
        return
    previous_root, previous_cwd = embedded._PROJECT_ROOT, os.getcwd()
    embedded._PROJECT_ROOT = root
    os.chdir(root)
    try:
        yield
    finally:
        embedded._PROJECT_ROOT = previous_root
        os.chdir(previous_cwd)


def _worker_pids(base_url: str) -> list[int]:
    with urllib.request.urlopen(base_url + "/ready", timeout=10) as response:
        return [int(worker["pid"]) for worker in orjson.loads(response.read())["workers"]]


def _measure(
    mode: str, root: str | None, args: argparse.Namespace, all_cores: set[int], workers: int
) -> tuple[dict[str, float], int | None, list[int]]:
    """One measurement; with one worker the mock is pinned to a core of its own, with more
    nothing is pinned (the workers and this client share every core)."""
    # pin_apart narrowed this process to the client cores; each measurement starts afresh.
    os.sched_setaffinity(0, all_cores)
    import uvloop

    settings = _settings(mode, args.itl_ms, args.streams, args.output_tokens)
    with _code_from(root):
        mock = EmbeddedMock(settings, workers=workers if workers > 1 else None)
        mock.start()
    try:
        if workers > 1:
            mock_core, client_cores, pids = None, sorted(all_cores), _worker_pids(mock.base_url)
        else:
            (mock_core, client_cores), pids = pin_apart(mock.pid), [mock.pid]
        port = int(mock.base_url.rsplit(":", 1)[1])
        result = uvloop.run(_drive(port, pids, args.streams, args.duration))
    finally:
        mock.stop()
    result["workers"] = float(workers)
    return result, mock_core, client_cores


def _ledger_request(port: int, method: str) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/tokenstorm/ledger", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
    return body


def _own_lag(lines: list[bytes]) -> dict[str, float]:
    """The mock's own account of falling behind, from its ledger lines (``lag_ms`` per answer,
    the mean per token; a tree from before the field existed has none): p99 over the answers,
    and the share late by more than the target's 2 ms."""
    lags = [
        lag
        for line in lines
        if line.strip()
        if (lag := orjson.loads(line).get("lag_ms")) is not None
    ]
    if not lags:
        return {}
    values = np.array(lags)
    return {
        "own_lag_p99_ms": float(np.percentile(values, 99)),
        "own_late_share": float((values > 2.0).mean()),
    }


def _summary(results: dict[tuple[str, str], list[dict[str, float]]], itl_ms: float) -> None:
    print("\nmedian [min..max] over the rounds:")
    for (mode, code), runs in results.items():

        def spread(key: str, scale: float = 1.0, runs: list[dict[str, float]] = runs) -> str:
            values = sorted(run[key] * scale for run in runs)
            return f"{float(np.median(values)):.2f} [{values[0]:.2f}..{values[-1]:.2f}]"

        p99_over = [{"p99_over": run["p99"] - itl_ms} for run in runs]
        over = sorted(v["p99_over"] for v in p99_over)
        print(
            f"  {mode:8} {code:8} p99-ITL ms {float(np.median(over)):+.2f} "
            f"[{over[0]:+.2f}..{over[-1]:+.2f}]  cpu% {spread('cpu', 100)}  "
            f"us/token {spread('cpu_us_per_token')} (user {spread('user_us_per_token')})  "
            f"KiB/stream "
            f"{spread('rss_per_stream', 1 / 1024)}"
            + (
                f"  own lag p99 ms {spread('own_lag_p99_ms')}"
                if all("own_lag_p99_ms" in run for run in runs)
                else ""
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--output-tokens",
        type=int,
        default=100,
        help="median answer length (longer: less per-request cost per token)",
    )
    parser.add_argument("--mode", choices=("constant", "engine", "both"), default="both")
    parser.add_argument(
        "--baseline-root", default=None, help="a tree whose mock runs alternately with this one"
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="mock worker counts, measured in turn (more than 1: a fleet, nothing pinned)",
    )
    args = parser.parse_args()
    if (
        args.baseline_root is not None
        and not (Path(args.baseline_root) / "mock_models" / "__main__.py").is_file()
    ):
        parser.error(f"--baseline-root {args.baseline_root}: no mock_models/__main__.py there")

    modes = ("constant", "engine") if args.mode == "both" else (args.mode,)
    codes: list[tuple[str, str | None]] = [("current", None)]
    if args.baseline_root is not None:
        codes.append(("baseline", str(Path(args.baseline_root).resolve())))
    within = True
    all_cores = os.sched_getaffinity(0)
    floor_us = _send_floor_us(min(all_cores), sockets=args.streams)
    tokens_per_s = args.streams * 1000.0 / args.itl_ms
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for round_index in range(args.repeat):
        # Alternate the order too, so neither tree always runs first.
        order = codes if round_index % 2 == 0 else codes[::-1]
        for mode in modes:
            for workers in args.workers:
                for code, root in order:
                    result, mock_core, client_cores = _measure(mode, root, args, all_cores, workers)
                    label = code if workers == 1 else f"{code}/w{workers}"
                    results.setdefault((mode, label), []).append(result)
                    _print(
                        mode, label, result, args, mock_core, client_cores, floor_us, tokens_per_s
                    )
                if code == "current":
                    within = within and abs(result["p99"] - args.itl_ms) <= 2.0
    if args.repeat > 1 or len(codes) > 1 or len(args.workers) > 1:
        _summary(results, args.itl_ms)
    return 0 if within else 1


def _print(
    mode: str,
    code: str,
    result: dict[str, float],
    args: argparse.Namespace,
    mock_core: int | None,
    client_cores: list[int],
    floor_us: float,
    tokens_per_s: float,
) -> None:
    where = (
        f"mock_core={mock_core} client_cores={client_cores}"
        if mock_core is not None
        else f"workers={result['workers']:.0f} unpinned on cores {client_cores}"
    )
    print(
        f"mode={mode} code={code} streams={args.streams} itl_ms={args.itl_ms:g} {where} "
        f"tokens_measured={result['tokens']:.0f} (streams opened in {result['ramp_s']:.1f} s)"
        f"   load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  client-measured ITL ms: mean {result['mean']:.2f}  p50 {result['p50']:.2f}  "
        f"p99 {result['p99']:.2f}  p99.9 {result['p999']:.2f}   "
        f"(p99 - configured: {result['p99'] - args.itl_ms:+.2f} ms)"
    )
    print(
        f"  steady-state CPU busy: mock {result['cpu']:.0%} of one core   "
        f"client {result['client_cpu']:.0%}   "
        f"mock memory per open stream: {result['rss_per_stream'] / 1024:.1f} KiB   "
        f"mock CPU per token: {result['cpu_us_per_token']:.2f} us "
        f"(user {result['user_us_per_token']:.2f})"
    )
    print(
        f"  mock CPU split: user {result['user']:.0%}  system {result['system']:.0%}"
        f"   kernel floor: {floor_us:.1f} us per token send = "
        f"{floor_us * tokens_per_s / 1e6:.0%} of one core at {tokens_per_s:,.0f} tokens/s",
        flush=True,
    )
    if "own_lag_p99_ms" in result:
        print(
            f"  the mock's own account (ledger lag_ms, answers finished in the steady state): "
            f"p99 {result['own_lag_p99_ms']:.2f} ms, {result['own_late_share']:.1%} of "
            "answers more than 2 ms behind on average",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
