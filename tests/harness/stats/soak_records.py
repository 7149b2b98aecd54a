"""Attempt records for soak tests: hand-made ones, and an hour of a mock deployment's own latency
draws sent on a virtual clock (no sockets, no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from harness.contract.records import AttemptRecord
from mock_models.settings import DeploymentSettings
from mock_models.sim.latency import draw_latency


def attempt(
    sent_s: float | None,
    ttft_s: float = 0.1,
    e2e_s: float = 1.0,
    *,
    ok: bool = True,
    attempt_no: int = 1,
    request_id: str = "r",
    model: str = "m",
    tokens: tuple[int, int] = (100, 10),
) -> AttemptRecord:
    done = None if sent_s is None else sent_s + e2e_s
    first = None if sent_s is None or not ok else sent_s + ttft_s
    return AttemptRecord(
        request_id=request_id,
        session_id=request_id,
        turn=1,
        attempt=attempt_no,
        scheduled_s=0.0 if sent_s is None else sent_s,
        sent_s=sent_s,
        first_byte_s=first,
        first_token_s=first,
        done_s=done,
        status_code=200 if ok else 500,
        outcome="ok" if ok else "http_5xx",
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1] if ok else 0,
        cached_tokens=None,
        usage_source="server",
        model=model,
        deployment="d",
        error_detail=None,
    )


def mock_deployment(itl_growth_per_min: float) -> DeploymentSettings:
    return DeploymentSettings(
        name="soak",
        model="m",
        ttft_ms=60.0,
        prefill_ms_per_token=0.0,
        itl_ms=12.0,
        jitter=0.1,
        output_tokens=48,
        output_tokens_sigma=0.0,
        itl_growth_per_min=itl_growth_per_min,
    )


def mock_run(
    itl_growth_per_min: float, minutes: float = 60.0, rps: float = 1.0, seed: int = 7
) -> Iterator[AttemptRecord]:
    """Records of a run sending ``rps`` requests a second for ``minutes`` to a constant-model
    mock deployment: each attempt's timing is the mock's ``draw_latency`` at its arrival on
    the run's (virtual) clock, so the ITL grows as the mock's knob says."""
    deployment = mock_deployment(itl_growth_per_min)
    rng = np.random.default_rng(seed)
    for index in range(round(minutes * 60 * rps)):
        now_s = index / rps
        draw = draw_latency(deployment, 100, None, rng, elapsed_s=now_s)
        yield attempt(now_s, draw.ttft_s, draw.total_s(), request_id=f"q{index}", tokens=(100, 48))
