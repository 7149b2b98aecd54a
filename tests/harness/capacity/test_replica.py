"""A replica's modelled throughput agrees with the mock's own batching core run flat out, its
defaults are the mock's, and the break-even volume is where one replica costs what the API
bills."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.capacity.replica import (
    ENGINE_DEFAULTS,
    EngineFigures,
    engine_figures,
    gpus_in_name,
    modelled_rps,
    replicas_for,
    self_hosted,
)
from mock_models.settings import EngineSettings
from mock_models.sim.batching import BatchScheduler, Sequence, StepCosts

PROFILES = Path(__file__).resolve().parents[3] / "mock_models" / "profiles"


def _simulated_rps(engine: EngineFigures, prompt: int, cached: int, output: int) -> float:
    """Requests per second of engine time with the queue never empty (4,000 requests)."""
    scheduler: BatchScheduler[int] = BatchScheduler(
        StepCosts(
            max_num_seqs=engine.max_num_seqs,
            max_waiting_seqs=10_000,
            max_num_batched_tokens=engine.max_num_batched_tokens,
            step_base_s=engine.step_base_ms / 1000,
            prefill_s_per_token=engine.prefill_ms_per_token / 1000,
            decode_s_per_seq=engine.decode_ms_per_seq / 1000,
            kv_capacity_tokens=engine.kv_capacity_tokens,
        )
    )
    for index in range(4000):
        assert scheduler.submit(Sequence(index, prompt - cached, output, cached))
    done, busy_s, warm = 0, 0.0, 400  # leave out the ramp-up and the drain
    while (step := scheduler.step()) is not None and done < 3600:
        done += len(step.finished)
        if done >= warm:
            busy_s += step.duration_s
    return (done - warm) / busy_s


@pytest.mark.parametrize(
    ("profile", "prompt", "cached", "output"),
    [("8b-h100", 1200, 400, 128), ("70b-h100-tp8", 600, 0, 160), ("8b-h100", 4000, 0, 40)],
)
def test_modelled_throughput_matches_the_mock_engine(
    profile: str, prompt: int, cached: int, output: int
) -> None:
    engine = engine_figures(tomllib.loads((PROFILES / f"{profile}.toml").read_text())["engine"])
    modelled = modelled_rps(engine, prompt, prompt - cached, output)
    assert modelled == pytest.approx(
        _simulated_rps(engine, prompt, cached, output), rel=0.02
    )  # 0.2 % apart when written


def test_a_small_kv_cache_caps_the_batch() -> None:
    roomy = EngineFigures(64, 8192, 10.0, 0.0, 0.0, 0)
    tight = EngineFigures(64, 8192, 10.0, 0.0, 0.0, 16 * 1100)  # 16 contexts of 1,100 tokens
    assert modelled_rps(tight, 1000, 1000, 100) == pytest.approx(
        modelled_rps(roomy, 1000, 1000, 100) * 16 / 64
    )


def test_the_defaults_are_the_mock_engine_defaults() -> None:
    for key, value in ENGINE_DEFAULTS.items():
        assert EngineSettings.model_fields[key].default == value, key
    assert gpus_in_name("70b-h100-tp8") == 8 and gpus_in_name("8b-h100") is None
    with pytest.raises(ValueError, match=r"engine\.step_base_ms"):
        engine_figures({"step_base_ms": "fast"})


def test_break_even_is_where_one_replica_costs_what_the_api_bills() -> None:
    hosted = self_hosted(100_000, 0.002, replica_rps=5.0, replica_usd_per_hour=10.0)
    even = hosted["break_even_requests_per_day"]
    assert even == pytest.approx(240.0 / 0.002)
    assert even * 0.002 == pytest.approx(10.0 * 24)
    assert hosted["replicas"] == 1 and hosted["api_daily_usd"] == pytest.approx(200.0)
    # A fully used replica at 5 req/s costs 10 / 18,000 = $0.00056 per request:
    # an API that bills less never breaks even.
    assert self_hosted(100_000, 0.0005, 5.0, 10.0)["break_even_requests_per_day"] is None
    assert (
        replicas_for(10.0, 5.0) == 2
        and replicas_for(10.01, 5.0) == 3
        and replicas_for(0.0, 5.0) == 1
    )
