"""Generators fitted to the shared traces reproduce the traces' statistics, both sides computed
here; bad trace references fail with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.contract.distributions import BUNDLED_TRACES_DIR, Dist
from harness.contract.traffic import Arrival
from workloads.arrivals import session_offsets_s
from workloads.fitting import TraceFits, fit_lognormal, gap_rate_and_cv, interarrival_s
from workloads.planner import build_plan
from workloads.scenario import ScenarioError, parse_scenario
from workloads.seeds import rng_stream
from workloads.traces import TraceError, load_trace

SHARED = BUNDLED_TRACES_DIR
TRACES = [
    "AzureLLMInferenceTrace_conv.csv",
    "AzureLLMInferenceTrace_code.csv",
    "BurstGPT_1.csv",
    "conversation_trace.jsonl",
    "synthetic_trace.jsonl",
]
SESSIONS = 20_000


def _quantiles(values: list[int] | np.ndarray) -> np.ndarray:
    return np.percentile(np.asarray(values, dtype=float), [50, 90])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lognormal", "empirical"])
@pytest.mark.parametrize("name", TRACES)
def test_fitted_token_lengths_reproduce_the_trace_p50_and_p90(name: str, kind: str) -> None:
    rows = load_trace(SHARED / name)
    rate_per_s, _cv = gap_rate_and_cv(interarrival_s(rows))
    scenario = parse_scenario(
        {
            "seed": 3,
            "duration": SESSIONS / rate_per_s,
            "arrival": {"trace": name},  # found in the shared traces folder
            "workload": [
                {
                    "kind": "stream",
                    "prompt_tokens": {"dist": kind, "trace": name, "column": "prompt_tokens"},
                    "max_tokens": {"dist": kind, "trace": name, "column": "output_tokens"},
                }
            ],
        }
    )
    plan = build_plan(scenario)
    assert len(plan) > SESSIONS // 2
    for planned, recorded in (
        ([r.prompt_tokens for r in plan], [row.prompt_tokens for row in rows]),
        ([r.max_tokens for r in plan], [row.output_tokens for row in rows]),
    ):
        assert np.allclose(_quantiles(planned), _quantiles(recorded), rtol=0.10)


@pytest.mark.parametrize("name", TRACES)
def test_fitted_arrivals_reproduce_the_trace_rate_and_interarrival_cv(name: str) -> None:
    rows = load_trace(SHARED / name)
    gaps_s = np.asarray(interarrival_s(rows))
    trace_cv = float(gaps_s.std() / gaps_s.mean())
    arrival = TraceFits().arrival(Arrival(trace=str(SHARED / name), trace_time_scale=100.0))
    assert arrival.process == "gamma"
    duration_s = 200_000 / arrival.rate
    offsets_s = np.asarray(session_offsets_s(arrival, duration_s, rng_stream(5, 1)))
    gaps = np.diff(offsets_s)
    assert gaps.std() / gaps.mean() == pytest.approx(trace_cv, rel=0.15)
    # trace_time_scale plays the trace 100 times faster.
    assert len(offsets_s) / duration_s == pytest.approx(100.0 / gaps_s.mean(), rel=0.05)


def test_lognormal_fit_matches_two_quantiles_exactly() -> None:
    values = np.random.default_rng(1).lognormal(np.log(300), 0.9, 5000)
    median, sigma = fit_lognormal(values.tolist())
    p50, p90 = np.percentile(values, [50, 90])
    assert median == pytest.approx(p50)
    assert median * np.exp(1.2815515655446004 * sigma) == pytest.approx(p90)


def test_a_trace_dist_without_a_positive_median_fails_with_one_line(tmp_path: Path) -> None:
    trace = tmp_path / "zeros.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:17:03.9799600,0,0\n2023-11-16 18:17:04.0000000,0,1\n"
    )
    dist = Dist(dist="lognormal", trace=str(trace), column="ContextTokens")
    with pytest.raises(TraceError, match=r"median is 0.*empirical"):
        TraceFits().dist(dist)
    assert TraceFits().dist(dist.model_copy(update={"dist": "empirical"})).values == (0.0, 0.0)


def test_unknown_columns_are_named_with_the_known_ones() -> None:
    dist = Dist(dist="empirical", trace=str(SHARED / "BurstGPT_1.csv"), column="Model")
    with pytest.raises(TraceError, match=r"column 'Model' cannot be sampled .*Request tokens"):
        TraceFits().dist(dist)


def test_trace_paths_resolve_beside_the_scenario_then_in_the_shared_folder(tmp_path: Path) -> None:
    local = tmp_path / "AzureLLMInferenceTrace_conv.csv"
    local.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    spec = {"dist": "empirical", "trace": local.name, "column": "prompt_tokens"}
    data = {"workload": [{"kind": "stream", "prompt_tokens": spec}]}
    beside = parse_scenario(data, base_dir=tmp_path).workload[0]
    shared = parse_scenario(data).workload[0]
    assert beside.prompt_tokens.trace == str(local)  # type: ignore[union-attr]
    assert shared.prompt_tokens.trace == str(SHARED / local.name)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "workload": [
                    {
                        "kind": "stream",
                        "prompt_tokens": {
                            "dist": "empirical",
                            "trace": "nope.csv",
                            "column": "prompt_tokens",
                        },
                    }
                ]
            },
            r"workload\[0\]\.prompt_tokens\.trace: no trace file 'nope.csv' \(looked in ",
        ),
        (
            {"workload": [{"kind": "stream", "prompt_tokens": {"dist": "empirical"}}]},
            r"needs values \(or trace and column\)",
        ),
        (
            {
                "workload": [
                    {
                        "kind": "stream",
                        "prompt_tokens": {
                            "dist": "normal",
                            "trace": "BurstGPT_1.csv",
                            "column": "prompt_tokens",
                        },
                    }
                ]
            },
            "only empirical and lognormal can be fitted",
        ),
        (
            {
                "workload": [
                    {
                        "kind": "stream",
                        "prompt_tokens": {"dist": "empirical", "trace": "BurstGPT_1.csv"},
                    }
                ]
            },
            "give both trace and column",
        ),
        (
            {"arrival": {"trace": "BurstGPT_1.csv", "rate": 3}, "workload": [{"kind": "stream"}]},
            "arrival: give either trace or rate",
        ),
    ],
)
def test_bad_trace_references_fail_with_one_line(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as caught:
        parse_scenario(data, "s.toml")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("s.toml: ")
