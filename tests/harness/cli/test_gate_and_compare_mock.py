"""Gates and comparisons on real runs against the embedded mock (a few seconds each).

Three short runs of one workload with one seed: ``base`` and ``same`` against the same mock,
``slow`` against a mock whose TTFT is 30 ms higher. A regression budget must pass ``same``
against ``base`` and fail ``slow``; a comparison must find the TTFT difference of ``slow``
significant and none between ``base`` and ``same``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.runner import execute
from workloads.scenario import parse_scenario

# Its verdicts need the run to keep its schedule: run alone, not beside other tests.
pytestmark = pytest.mark.serial

RUN_IDS = ("base", "same", "slow")


def _scenario(ttft_ms: float) -> dict[str, Any]:
    return {
        "name": "gate-mock",
        "seed": 11,
        "duration": "2.5s",
        "drain": "5s",
        "arrival": {"process": "poisson", "rate": "40/s"},
        "workload": [
            {"kind": "stream", "tags": {"tenant": "acme"}, "prompt_tokens": 200, "max_tokens": 16}
        ],
        "mock": {
            "deployments": [
                {
                    "name": "only",
                    "model": "mock-small",
                    "ttft_ms": ttft_ms,
                    "itl_ms": 3,
                    "jitter": 0.2,
                    "output_tokens": 16,
                    "output_tokens_sigma": 0,
                }
            ]
        },
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    for run_id, ttft_ms in zip(RUN_IDS, (40.0, 40.0, 70.0), strict=True):
        result = execute(parse_scenario(_scenario(ttft_ms), run_id), out, run_id, progress=False)
        assert result.summary["requests_ok"] > 50, result.summary
    return {run_id: out / run_id for run_id in RUN_IDS}


REGRESSION = """
[thresholds]
"ttft_ms" = ["p(99) < 800", "p(50) < 300"]
"error_rate" = ["rate < 1%"]
[regression]
"ttft_ms" = ["p(99) <= baseline * 1.10 + 25", "p(50) <= baseline * 1.05 + 2"]
"e2e_ms{tenant=acme}" = ["p(50) <= baseline * 1.05 + 2"]
"""


def _gate(run_dir: Path, baseline: Path, budget: Path) -> tuple[int, dict[str, Any]]:
    code = main(["gate", str(run_dir), "--budget", str(budget), "--baseline", str(baseline)])
    return code, json.loads((run_dir / "gates.json").read_text())


@pytest.mark.slow
def test_same_seed_does_not_fail_and_extra_latency_does(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text(REGRESSION)
    code, same = _gate(runs["same"], runs["base"], budget)
    assert code == 0, capsys.readouterr().out
    assert {r["verdict"] for r in same["results"]} <= {"pass", "skipped"}
    code, slow = _gate(runs["slow"], runs["base"], budget)
    assert code == 99, capsys.readouterr().out
    failed = {(r["metric"], r["expression"]) for r in slow["results"] if r["verdict"] == "fail"}
    assert ("ttft_ms", "p(50) <= baseline * 1.05 + 2") in failed
    assert ("e2e_ms{tenant=acme}", "p(50) <= baseline * 1.05 + 2") in failed
    assert all(r["section"] == "regression" for r in slow["results"] if r["verdict"] == "fail")
    assert slow["baseline_run_id"] == "base"
    assert (runs["slow"] / "junit.xml").exists()
    assert "### Gates: FAIL" in (runs["slow"] / "report.md").read_text()


@pytest.mark.slow
def test_compare_finds_the_known_difference_and_not_noise(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    code = main(
        ["compare", str(runs["base"]), str(runs["same"]), str(runs["slow"]), "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    same_line = next(line for line in printed.splitlines() if line.startswith("same vs base"))
    slow_line = next(line for line in printed.splitlines() if line.startswith("slow vs base"))
    assert "no significant difference" in same_line
    assert "significant: TTFT p50 +" in slow_line and "E2E p50 +" in slow_line
    assert "cost per 1k requests" in slow_line.split("within noise:")[1]  # same tokens
    markdown = (out / "comparison.md").read_text()
    html = (out / "comparison.html").read_text()
    assert "### slow minus base" in markdown and "slow minus base" in html
    assert "<script" not in html and "<link" not in html


@pytest.mark.slow
def test_compare_refuses_different_workloads_unless_forced(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(runs["same"], other)
    plan = other / "plan.jsonl"
    plan.write_text("\n".join(plan.read_text().splitlines()[:-1]) + "\n")  # one request less
    code = main(["compare", str(runs["base"]), str(other), "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "different workload" in err and "--force" in err
    assert not (tmp_path / "c").exists()
    forced = main(
        ["compare", str(runs["base"]), str(other), "--out", str(tmp_path / "c"), "--force"]
    )
    assert forced == 0
    assert "compared with --force" in (tmp_path / "c" / "comparison.md").read_text()


@pytest.mark.slow
def test_run_with_a_budget_exits_with_the_gates_code(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(_toml(_scenario(70.0)))
    budget = tmp_path / "budget.toml"
    budget.write_text(
        '[thresholds]\n"ttft_ms" = "p(50) < 300"\n'
        '[regression]\n"ttft_ms" = "p(50) <= baseline * 1.05 + 2"\n'
    )
    code = main(
        [
            "run",
            str(scenario),
            "--out",
            str(tmp_path),
            "--run-id",
            "gated",
            "--no-progress",
            "--budget",
            str(budget),
            "--baseline",
            str(runs["base"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 99, out
    assert "gate verdict: FAIL (exit 99)" in out
    assert json.loads((tmp_path / "gated" / "gates.json").read_text())["verdict"] == "fail"
    assert "### Gates: FAIL" in (tmp_path / "gated" / "report.md").read_text()


def test_run_with_a_bad_budget_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text('[thresholds]\n"ttft_ms" = "p(50) < later"\n')
    code = main(
        [
            "run",
            "--out",
            str(tmp_path),
            "--run-id",
            "never",
            "--no-progress",
            "--budget",
            str(budget),
        ]
    )
    assert code == 104
    assert "'p(50) < later'" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def _toml(data: dict[str, Any]) -> str:
    """Just enough TOML for the scenario dicts above (strings, numbers, nested tables)."""

    def value(v: Any) -> str:
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    return "\n".join(f"{k} = {value(v)}" for k, v in data.items()) + "\n"


@pytest.mark.slow
def test_compare_tells_apart_runs_that_share_a_run_id(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    twin = tmp_path / "pr" / "base"
    shutil.copytree(runs["slow"], twin)
    summary = json.loads((twin / "summary.json").read_text())
    (twin / "summary.json").write_text(json.dumps({**summary, "run_id": "base"}))
    assert main(["compare", str(runs["base"]), str(twin), "--out", str(tmp_path / "c")]) == 0
    assert f"{twin} vs {runs['base']}: significant" in capsys.readouterr().out
    assert (
        main(["compare", str(runs["base"]), str(runs["base"]), "--out", str(tmp_path / "d")]) == 2
    )
    assert "given twice" in capsys.readouterr().err
