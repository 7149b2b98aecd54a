"""Merging workers' views: metrics summed per series (usage shares kept per worker), ledger
lines each once, in the order their attempts finished, streamed in bounded memory, a
half-written line left for later."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from harness.contract.ledger import pieces_of
from mock_models.fleet import folder
from mock_models.fleet.admin import FleetAdmin
from mock_models.fleet.merge import merged_lines, merged_metrics

_TEXT = """# HELP vllm:generation_tokens_total Tokens generated.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model_name="m",deployment="d"} {tokens}
# HELP vllm:kv_cache_usage_perc KV-cache usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m",deployment="d"} {usage}
# HELP vllm:e2e_request_latency_seconds Time.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{model_name="m",deployment="d",le="0.1"} {tokens}
vllm:e2e_request_latency_seconds_sum{model_name="m",deployment="d"} {usage}
"""


def _text(tokens: int, usage: float) -> str:
    return _TEXT.replace("{tokens}", str(tokens)).replace("{usage}", repr(usage))


def test_metrics_sum_per_series_and_keep_shares_per_worker() -> None:
    lines = merged_metrics([(0, _text(3, 0.25)), (1, _text(4, 0.5))]).decode().splitlines()
    assert lines.count("# TYPE vllm:generation_tokens_total counter") == 1
    assert 'vllm:generation_tokens_total{model_name="m",deployment="d"} 7' in lines
    assert 'vllm:kv_cache_usage_perc{model_name="m",deployment="d",worker="0"} 0.25' in lines
    assert 'vllm:kv_cache_usage_perc{model_name="m",deployment="d",worker="1"} 0.5' in lines
    bucket = 'vllm:e2e_request_latency_seconds_bucket{model_name="m",deployment="d",le="0.1"} 7'
    assert bucket in lines
    assert 'vllm:e2e_request_latency_seconds_sum{model_name="m",deployment="d"} 0.75' in lines
    # Each family's samples follow its own TYPE line.
    type_line = lines.index("# TYPE vllm:kv_cache_usage_perc gauge")
    assert lines[type_line + 1].startswith("vllm:kv_cache_usage_perc")


def _line(received_s: float, run_id: str) -> bytes:
    return orjson.dumps({"received_s": received_s, "run_id": run_id}) + b"\n"


def merged_ledger(paths: list[Path], starts: dict[str, int], run_id: str | None = None) -> bytes:
    return b"".join(merged_lines(paths, starts, run_id))


def test_ledger_lines_merge_by_finish_time_each_once(tmp_path: Path) -> None:
    folder.ledger_path(tmp_path, 0).write_bytes(
        _line(1.0, "a") + _line(3.0, "b") + b'{"received_s": 5'
    )
    folder.ledger_path(tmp_path, 1).write_bytes(_line(2.0, "a"))
    paths = folder.ledger_paths(tmp_path)
    merged = [orjson.loads(line) for line in merged_ledger(paths, {}).splitlines()]
    assert [line["received_s"] for line in merged] == [1.0, 2.0, 3.0]
    assert len(merged_ledger(paths, {}, "a").splitlines()) == 2
    assert folder.mark_cleared(tmp_path) == 3
    assert merged_ledger(paths, folder.cleared_offsets(tmp_path)) == b""
    with folder.ledger_path(tmp_path, 0).open("ab") as handle:
        handle.write(
            b'.0, "run_id": "a"}\n' + _line(4.0, "a")
        )  # the half line, completed; a new one
    # The line cleared half-written is not counted as cleared: it shows up once done.
    assert len(merged_ledger(paths, folder.cleared_offsets(tmp_path)).splitlines()) == 2


def test_a_line_a_killed_worker_left_half_written_is_skipped(tmp_path: Path) -> None:
    path = folder.ledger_path(tmp_path, 0)
    folder.end_last_line(path)  # no file yet: nothing to do
    path.write_bytes(_line(1.0, "a") + b'{"received_s": 2')
    folder.end_last_line(path)  # the successor starts
    folder.end_last_line(path)  # twice changes nothing
    with path.open("ab") as handle:
        handle.write(_line(3.0, "a"))
    merged = merged_ledger([path], {}).splitlines()
    assert [orjson.loads(line)["received_s"] for line in merged] == [1.0, 3.0]


def test_a_runs_start_is_the_first_workers_and_an_announced_one_replaces_it(
    tmp_path: Path,
) -> None:
    assert folder.run_started(tmp_path, "run/1", 10.5) == 10.5  # the first to see it
    assert folder.run_started(tmp_path, "run/1", 12.0) == 10.5  # the others get that
    assert folder.run_started(tmp_path, "run-2", 11.0) == 11.0  # each run its own
    folder.set_run_start(tmp_path, "run/1", 9.25)  # the run said when it started
    assert folder.run_started(tmp_path, "run/1", 13.0) == 9.25
    folder.forget_runs(tmp_path)
    assert folder.run_started(tmp_path, "run/1", 14.0) == 14.0
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]


def _attempt(received_s: float, service_ms: float, request_id: str) -> bytes:
    document = {"received_s": received_s, "service_ms": service_ms, "request_id": request_id}
    return orjson.dumps(document) + b"\n"


def test_a_long_attempt_received_early_is_merged_where_it_finished(tmp_path: Path) -> None:
    # Each worker writes a line as its attempt finishes: "long" came in first, ended last.
    folder.ledger_path(tmp_path, 0).write_bytes(
        _attempt(1.0, 100.0, "short") + _attempt(0.5, 2000.0, "long")
    )
    folder.ledger_path(tmp_path, 1).write_bytes(
        _attempt(0.8, 100.0, "first") + _attempt(2.0, 100.0, "late")
    )
    merged = merged_ledger(folder.ledger_paths(tmp_path), {})
    order = [orjson.loads(line)["request_id"] for line in merged.splitlines()]
    assert order == ["first", "short", "late", "long"]


def test_many_workers_files_merge_line_by_line_in_bounded_memory(tmp_path: Path) -> None:
    workers, per_worker = 4, 5_000
    for index in range(workers):
        with folder.ledger_path(tmp_path, index).open("wb") as handle:
            for number in range(per_worker):
                finished_ms = float(number * workers + (index * 7) % workers)  # interleaved
                line = {
                    "received_s": 0.0,
                    "service_ms": finished_ms,
                    "request_id": f"w{index}-q{number}",
                    "padding": "x" * 300,  # about a real line's size
                }
                handle.write(orjson.dumps(line) + b"\n")
    paths = folder.ledger_paths(tmp_path)
    size_bytes = sum(path.stat().st_size for path in paths)
    tracemalloc.start()
    lines, last_ms, ordered = 0, -1.0, True
    for piece in pieces_of(merged_lines(paths, {})):
        for line in piece.splitlines():
            finished_ms = float(orjson.loads(line)["service_ms"])
            ordered = ordered and finished_ms > last_ms
            last_ms, lines = finished_ms, lines + 1
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Strictly ordered (no line twice) and as many as were written (none lost).
    assert ordered and lines == workers * per_worker
    assert peak_bytes < size_bytes // 20, (peak_bytes, size_bytes)


async def _site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def test_the_fleets_ledger_route_streams_the_merge(tmp_path: Path) -> None:
    folder.ledger_path(tmp_path, 0).write_bytes(_line(1.0, "a") + _line(3.0, "b"))
    folder.ledger_path(tmp_path, 1).write_bytes(_line(2.0, "a") + b'{"received_s": 4')
    admin = FleetAdmin(tmp_path, 2)
    app = web.Application(middlewares=[admin.middleware])

    async def scenario() -> tuple[str, list[float], int, int]:
        runner, base_url = await _site(app)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(base_url + "/tokenstorm/ledger") as response:
                    chunked = response.headers.get("Transfer-Encoding", "")
                    assert response.content_type == "application/x-ndjson"
                    body = await response.read()
                async with session.get(base_url + "/tokenstorm/ledger?run_id=a") as response:
                    run_a = (await response.read()).count(b"\n")
                folder.mark_cleared(tmp_path)
                async with session.get(base_url + "/tokenstorm/ledger") as response:
                    after_clear = len(await response.read())
        finally:
            await runner.cleanup()
            await admin.close()
        received = [orjson.loads(line)["received_s"] for line in body.splitlines()]
        return chunked, received, run_a, after_clear

    assert asyncio.run(scenario()) == ("chunked", [1.0, 2.0, 3.0], 2, 0)
