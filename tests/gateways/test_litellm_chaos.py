"""Chaos behind a gateway that drops our headers: one plan, one seed, one fault profile, straight
to the mock and through LiteLLM proxy (``num_retries: 0``, so every upstream attempt is the
client's), with ``tag_prompt = true``. The mock counts each request's attempts itself (LiteLLM's
SDK says ``x-stainless-retry-count: 0`` on every one), times the windows from the run's first
tagged request, and draws each attempt's fault from (seed, request id, attempt): so every
request meets the same faults, attempt by attempt, on both paths."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from harness.cli.main import main
from harness.contract.records import AttemptRecord, read_jsonl

if TYPE_CHECKING:
    from conftest import Upstream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

#: Requests at 0, 1, 2, 3, 4 s; retries 0.4 s after each failure (no jitter, no retry-after),
#: so attempts 2 and 3 come at x.4 and x.8 s, 0.2 s from the window's edges at x.6 s.
PROFILE: dict[str, Any] = {
    "name": "gateway-chaos",
    "rule": [
        # Every first attempt: a 429, whatever the gateway says the attempt is.
        {"kind": "http_429", "probability": 1.0, "first_attempts": 1},
        # 1.6 s to 3.6 s of the run: every attempt a 500.
        {"kind": "http_500", "probability": 1.0, "window": {"start": 1.6, "end": 3.6}},
        # Outside it, a fair share of 503s, drawn per (seed, request id, attempt).
        {"kind": "http_503", "probability": 0.4},
    ],
}


def _scenario(folder: Path, name: str, url: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f"""name = "{name}"
seed = 21
duration = "4.5s"
drain = "40s"
[target]
url = "{url}"
model = "mock-small"
timeout = "30s"
stream = true
tag_prompt = true
[client.retry]
attempts = 3
backoff = {{ base = "0.4s", max = "0.4s", jitter = 0 }}
honor_retry_after = false
[arrival]
process = "constant"
rate = "1/s"
[[workload]]
kind = "stream"
prompt_tokens = {{ dist = "constant", value = 50 }}
max_tokens = 12
""")
    return path


def _outcomes(folder: Path, name: str, url: str, ledger_url: str) -> dict[str, list[str]]:
    """Each request id's attempts, in order, as ``status outcome``."""
    scenario = _scenario(folder, name, url)
    args = ["run", str(scenario), "--ledger", ledger_url, "--out", str(folder)]
    assert main([*args, "--run-id", name, "--no-progress", "--no-report"]) == 0
    by_request: dict[str, list[str]] = defaultdict(list)
    records = sorted(
        read_jsonl(folder / name / "records.jsonl", AttemptRecord),
        key=lambda r: (r.request_id, r.attempt),
    )
    for record in records:
        by_request[record.request_id].append(f"{record.status_code} {record.outcome}")
    return dict(by_request)


def test_faults_behind_litellm_match_straight_to_the_mock(
    litellm_noretry: str, upstream: Upstream, tmp_path: Path, master_key: None
) -> None:
    # LiteLLM's first call through a fresh proxy takes most of a second of its own set-up:
    # that would move the first request's retries, on the run's clock, into the window.
    warm = httpx.post(
        litellm_noretry + "/chat/completions",
        json={"model": "mock-small", "messages": [{"role": "user", "content": "warm up"}]},
        headers={"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"},  # master_key
        timeout=60.0,
    )
    assert warm.status_code == 200, warm.text
    upstream.reset()
    response = httpx.put(upstream.base_url + "/tokenstorm/faults", json=PROFILE, timeout=5.0)
    assert response.status_code == 200, response.text
    try:
        direct = _outcomes(tmp_path, "direct", upstream.base_url + "/v1", upstream.ledger_url)
        gateway = _outcomes(tmp_path, "through", litellm_noretry, upstream.ledger_url)
    finally:
        upstream.set_faults()
    assert len(direct) == 5
    # The profile did what it says straight to the mock: every first attempt a 429, and the
    # window failed what it covered (the request at 2 s met it on both retries).
    assert all(attempts[0] == "429 http_429" for attempts in direct.values())
    assert any(attempts[1:] == ["500 http_5xx", "500 http_5xx"] for attempts in direct.values())
    assert any(attempts[-1] == "200 ok" for attempts in direct.values())
    assert gateway == direct
