"""Scraping on real loopback HTTP: chosen series written per scrape, a series that vanishes
gets a ``gone`` line, an endpoint that fails or hangs gets an ``error`` line, and the
watcher goes on; secrets in URLs are redacted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from harness.watch.scrape import Watcher, WatchSettings, chosen, read_watch, scrape_lines

TEXT = """# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.5e+08
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 3
# TYPE other_total counter
other_total 7
"""


def test_chosen_keeps_matching_samples_with_their_labels() -> None:
    found = chosen(TEXT, ["process_*", "vllm:num_requests_running"])
    assert found == {
        "process_resident_memory_bytes": ("process_resident_memory_bytes", {}, 1.5e8),
        'vllm:num_requests_running{model_name="m"}': (
            "vllm:num_requests_running",
            {"model_name": "m"},
            3.0,
        ),
    }


def test_text_that_does_not_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        chosen("this is { not prometheus", ["*"])


def test_a_series_no_longer_there_is_gone() -> None:
    lines = scrape_lines(2.0, "u", {"a", "b"}, {"a": ("a", {}, 1.0)})
    assert {"t_s": 2.0, "url": "u", "series": "b", "gone": True} in lines
    assert len(lines) == 2


async def _serve(handler: Any) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, int(port)


def test_a_watcher_records_series_errors_and_hangs_and_goes_on(tmp_path: Path) -> None:
    calls = {"n": 0}

    async def metrics(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return web.Response(status=503)
        if calls["n"] == 3:
            await asyncio.sleep(1.5)  # longer than the scrape's timeout
        text = TEXT if calls["n"] < 4 else TEXT.replace("vllm:", "gone:")
        return web.Response(text=text)

    async def main() -> None:
        runner, port = await _serve(metrics)
        url = f"http://127.0.0.1:{port}/metrics?token=s3cret"
        settings = WatchSettings(
            urls=(url, "http://127.0.0.1:9/metrics"), every_s=0.3, timeout_s=0.5
        )
        loop = asyncio.get_running_loop()
        start = loop.time()
        watcher = Watcher(settings, tmp_path / "watch.jsonl", lambda: loop.time() - start)
        started = asyncio.Event()
        started.set()
        task = asyncio.create_task(watcher.run(started))
        while watcher.scrapes < 5:
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()

    asyncio.run(main())
    text = (tmp_path / "watch.jsonl").read_text()
    assert "s3cret" not in text
    lines = list(read_watch(tmp_path / "watch.jsonl"))
    ours = [line for line in lines if ":9/" not in line["url"]]
    errors = [line["error"] for line in ours if "error" in line]
    assert any("503" in error for error in errors)
    assert any("within 0.5 s" in error for error in errors)
    values = [line["value"] for line in ours if line.get("name") == "process_resident_memory_bytes"]
    assert values and set(values) == {1.5e8}
    gone = [line["series"] for line in ours if line.get("gone")]
    assert gone == ['vllm:num_requests_running{model_name="m"}']
    refused = [line for line in lines if ":9/" in line["url"]]
    assert len(refused) >= 5
    assert all("error" in line for line in refused)
