"""The fault proxy takes a run's announced start at ``/tokenstorm/runs`` itself (never forwarded
to its upstream) and times that run's windows on it; every answer names the proxy."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from faults.profile import FaultProfile
from faults.proxy.server import build_app
from harness.api.run_start import run_start_body
from harness.api.tokenstorm_headers import SERVER_HEADER


async def _site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def test_the_proxy_takes_a_runs_start_and_keeps_it_from_the_upstream() -> None:
    profile = FaultProfile.model_validate(
        {"rule": [{"kind": "http_500", "window": {"start": 5, "end": 3600}}]}
    )

    async def scenario() -> tuple[list[int], list[str], set[str | None]]:
        paths: list[str] = []

        async def upstream_answer(request: web.Request) -> web.Response:
            paths.append(request.path)
            return web.json_response({"ok": True})

        upstream_app = web.Application()
        upstream_app.router.add_route("*", "/{tail:.*}", upstream_answer)
        upstream, upstream_url = await _site(upstream_app)
        proxy, proxy_url = await _site(build_app(upstream_url, profile))
        statuses, servers = [], set()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    proxy_url + "/tokenstorm/runs", data=run_start_body("late", 10.0)
                ) as response:
                    statuses.append(response.status)
                    servers.add(response.headers.get(SERVER_HEADER))
                for run_id in ("late", "fresh"):
                    async with session.post(
                        proxy_url + "/v1/chat/completions",
                        json={"model": "m", "messages": []},
                        headers={"x-tokenstorm-run-id": run_id},
                    ) as response:
                        await response.read()
                        statuses.append(response.status)
                        servers.add(response.headers.get(SERVER_HEADER))
        finally:
            await proxy.cleanup()
            await upstream.cleanup()
        return statuses, paths, servers

    statuses, paths, servers = asyncio.run(scenario())
    # "late" is 10 s into its run, inside the window; "fresh" starts its clock at 0.
    assert statuses == [200, 500, 200]
    assert paths == ["/v1/chat/completions"]  # the run start stayed with the proxy
    assert servers == {"proxy"}
