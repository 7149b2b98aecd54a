"""Recovery after a timed fault window, end to end: runs of one seeded workload against the
embedded mock with a 0.8 s outage on the run clock, compared.

With retries (one retry, 1 s later) every request the outage failed comes back right after it,
doubling the load on a mock with little spare capacity: TTFT stays high for a while, so the run
recovers later than the same workload without retries, which is healthy from the first second
after the window. Two runs without retries recover alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.runner import execute
from workloads.scenario import parse_scenario

WINDOW = ("0.8s", "1.6s")
NO_RETRY: dict[str, Any] = {"attempts": 1}
RETRY: dict[str, Any] = {"attempts": 2, "backoff": {"base": 1.0, "jitter": 0.0}}


def _scenario(profile: Path, retry: dict[str, Any]) -> dict[str, Any]:
    engine = {
        "max_num_seqs": 5,
        "step_base_ms": 10.0,
        "decode_ms_per_seq": 0.0,
        "prefill_ms_per_token": 0.0,
    }
    return {
        "name": "recovery",
        "seed": 3,
        "duration": "6s",
        "drain": "1s",
        "arrival": {"process": "poisson", "rate": "30/s"},
        "workload": [{"kind": "stream", "prompt_tokens": 50, "max_tokens": 10}],
        "client": {"retry": retry},
        "mock": {
            "faults": str(profile),
            "deployments": [
                {
                    "name": "only",
                    "model": "mock-small",
                    "jitter": 0.0,
                    "output_tokens": 10,
                    "output_tokens_sigma": 0,
                    "engine": engine,
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("recovery")
    profile = out / "outage.toml"
    profile.write_text(
        '[[rule]]\nkind = "http_503"\nprobability = 1.0\n'
        f'window = {{ start = "{WINDOW[0]}", end = "{WINDOW[1]}" }}\n'
    )
    for run_id, retry in (("plain", NO_RETRY), ("again", NO_RETRY), ("retrying", RETRY)):
        execute(parse_scenario(_scenario(profile, retry), run_id), out, run_id, progress=False)
    return {run_id: out / run_id for run_id in ("plain", "again", "retrying")}


def _recovery(run: Path) -> float | None:
    [window] = json.loads((run / "summary.json").read_text())["fault_windows"]
    assert (window["start_s"], window["end_s"]) == (0.8, 1.6)
    assert window["during"]["error_rate"] > 0.9  # the window is read on the mock's clock
    assert window["after"]["error_rate"] < 0.05
    value: float | None = window["recovery_s"]
    return value


@pytest.mark.slow
def test_retries_after_an_outage_delay_recovery_and_compare_shows_it(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, again, retrying = (_recovery(runs[k]) for k in ("plain", "again", "retrying"))
    assert plain == 0.0 and again == 0.0
    assert retrying is not None and retrying >= 1.0
    code = main(
        [
            "compare",
            str(runs["plain"]),
            str(runs["again"]),
            str(runs["retrying"]),
            "--out",
            str(tmp_path / "cmp"),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    lines = {line.split(" vs ")[0]: line for line in printed.splitlines() if " vs " in line}
    assert f"recovery: +{retrying:.1f} s after http_503" in lines["retrying"]
    assert "recovery" not in lines["again"]
    markdown = (tmp_path / "cmp" / "comparison.md").read_text()
    rows = [
        line
        for line in markdown.splitlines()
        if line.startswith("| time to recover after http_503 (0.8-1.6 s)")
    ]
    side, again_row, retrying_row = rows
    assert side.split("|")[2:5] == [" 0.0 s ", " 0.0 s ", f" {retrying:.1f} s "]
    assert again_row.split("|")[4] == " +0.0 s "
    assert retrying_row.split("|")[4] == f" +{retrying:.1f} s "
