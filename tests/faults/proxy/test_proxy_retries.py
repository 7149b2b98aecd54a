"""Retries meeting the fault proxy: the official openai SDK's retries counted by the ledger
(amplification 1 + p + p² with 2 retries), and a rerun reproducing the fault sequence."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import orjson
import pytest

from harness.client.http import HttpClient
from harness.contract.records import (
    AttemptRecord,
    LedgerEntry,
    PlannedMessage,
    PlannedRequest,
    from_dict,
)
from harness.contract.target import Backoff, RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

P_FAIL = 0.3
REQUESTS = 400


@pytest.fixture(scope="module")
def proxy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    profile = tmp_path_factory.mktemp("profile") / "fail.toml"
    # retry_after 20 ms: the SDK honours retry-after-ms, which keeps the test quick
    profile.write_text(
        f'[[rule]]\nkind = "http_429"\nprobability = {P_FAIL}\n'
        "params = { retry_after_s = 0.02 }\n"
    )
    with EmbeddedMock(constant_settings(1.0, 0.0, 4)) as mock:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli.main",
                "proxy",
                "--upstream",
                mock.base_url,
                "--port",
                "0",
                "--faults",
                str(profile),
                "--seed",
                "11",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("tokenstorm-proxy listening on "), process.stderr
            yield line.split()[3]
        finally:
            process.terminate()
            process.wait(timeout=10)


def _ledger(url: str, run_id: str | None = None) -> list[LedgerEntry]:
    params = {"run_id": run_id} if run_id else {}
    answer = httpx.get(f"{url}/tokenstorm/ledger", params=params, timeout=10)
    return [
        from_dict(LedgerEntry, orjson.loads(line))
        for line in answer.content.splitlines()
        if line.strip()
    ]


@pytest.mark.slow
def test_openai_sdk_retries_are_counted_by_the_ledger(proxy_url: str) -> None:
    httpx.delete(f"{proxy_url}/tokenstorm/ledger", timeout=5)
    client = openai.AsyncOpenAI(base_url=f"{proxy_url}/v1", api_key="sk-test", max_retries=2)

    async def one() -> bool:
        try:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hello"}], max_tokens=4
            )
            return True
        except openai.RateLimitError:
            return False

    async def main() -> list[bool]:
        semaphore = asyncio.Semaphore(64)

        async def bounded() -> bool:
            async with semaphore:
                return await one()

        try:
            return await asyncio.gather(*(bounded() for _ in range(REQUESTS)))
        finally:
            await client.close()

    answered = asyncio.run(main())
    entries = [e for e in _ledger(proxy_url) if e.run_id is None]
    amplification = len(entries) / REQUESTS
    expected = 1 + P_FAIL + P_FAIL**2
    per_request_var = (1 * (1 - P_FAIL) + 4 * P_FAIL * (1 - P_FAIL) + 9 * P_FAIL**2) - expected**2
    tolerance = 4 * math.sqrt(per_request_var / REQUESTS)
    assert abs(amplification - expected) < tolerance, (amplification, expected, tolerance)
    # the SDK tells its retries apart with x-stainless-retry-count: attempt 3 exists
    assert {e.attempt for e in entries} == {1, 2, 3}
    failed_after_retries = answered.count(False)
    assert failed_after_retries == sum(1 for e in entries if e.attempt == 3 and e.fault)


def _plan() -> list[PlannedRequest]:
    return [
        PlannedRequest(
            request_id=f"s{i}-t1",
            session_id=f"s{i}",
            turn=1,
            offset_s=0.01 * i,
            think_s=0.0,
            prompt_tokens=3,
            max_tokens=4,
            model="m",
            api="openai-chat",
            stream=True,
            messages=(PlannedMessage(role="user", tokens=3, seed=i),),
            tags={},
        )
        for i in range(60)
    ]


def _run_engine(url: str, run_id: str) -> list[AttemptRecord]:
    records: list[AttemptRecord] = []
    policy = RetryPolicy(attempts=3, backoff=Backoff(base=0.01, max=0.05, jitter=0.0))
    config = EngineConfig(
        run_id=run_id,
        duration_s=5.0,
        drain_s=5.0,
        timeout_s=5.0,
        first_token_timeout_s=None,
        retry=policy,
    )

    async def main() -> None:
        client = HttpClient(f"{url}/v1", "openai-chat")
        try:
            engine = Engine(
                config, client, records.append, now=time.perf_counter, rng=np.random.default_rng(0)
            )
            await engine.run(_plan())
        finally:
            await client.close()

    asyncio.run(main())
    return records


def test_a_rerun_meets_the_same_faults_on_the_same_attempts(proxy_url: str, tmp_path: Path) -> None:
    first = _run_engine(proxy_url, "rerun-a")
    second = _run_engine(proxy_url, "rerun-b")

    def sequence(records: list[AttemptRecord]) -> list[tuple[str, int, str, str | None]]:
        return sorted((r.request_id, r.attempt, r.outcome, r.fault) for r in records)

    assert sequence(first) == sequence(second)
    assert any(r.fault for r in first) and any(r.attempt > 1 for r in first)
    for run_id, records in (("rerun-a", first), ("rerun-b", second)):
        ledger = _ledger(proxy_url, run_id)
        assert sorted((e.request_id, e.attempt, e.fault) for e in ledger) == sorted(
            (r.request_id, r.attempt, r.fault) for r in records
        )
