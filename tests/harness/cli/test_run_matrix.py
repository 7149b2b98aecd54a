"""``run --matrix``: one workload against two embedded-mock settings in turn, then compared;
and the matrix file's mistakes, each one line naming file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from harness.cli.matrix import parse_matrix, worst_code
from workloads.scenario import Scenario, parse_scenario

# Its verdicts need the run to keep its schedule: run alone, not beside other tests.
pytestmark = pytest.mark.serial

SCENARIO = """
name = "matrix"
seed = 21
duration = "2.5s"
drain = "5s"
arrival = { process = "poisson", rate = "40/s" }
workload = [{ kind = "stream", prompt_tokens = 200, max_tokens = 16 }]
"""


def _mock(ttft_ms: float) -> str:
    return (
        f'mock = {{ deployments = [{{ name = "only", model = "mock-small", '
        f"ttft_ms = {ttft_ms:g}, itl_ms = 3, jitter = 0.2, output_tokens = 16, "
        f"output_tokens_sigma = 0 }}] }}"
    )


MATRIX = f"""
[[target]]
name = "fast"
{_mock(40)}
[[target]]
name = "slow"
{_mock(70)}
"""


@pytest.mark.slow
def test_a_matrix_runs_each_target_with_one_seed_and_compares_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    (tmp_path / "matrix.toml").write_text(MATRIX)
    # Validity limits are wide: on a loaded machine a late client would make the verdict
    # inconclusive (98), and this test is about the matrix, not about the client's lag.
    (tmp_path / "budget.toml").write_text(
        '[thresholds]\n"ttft_ms" = ["p(50) < 60"]\n'
        "[validity]\nmax_schedule_lag_p99_ms = 500\nmax_upstream_lag_p99_ms = 500\n"
    )
    code = main(
        [
            "run",
            str(tmp_path / "scenario.toml"),
            "--matrix",
            str(tmp_path / "matrix.toml"),
            "--out",
            str(tmp_path / "results"),
            "--run-id",
            "m1",
            "--no-progress",
            "--budget",
            str(tmp_path / "budget.toml"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 99, captured.out  # the slow target fails the budget, the fast one passes
    folder = tmp_path / "results" / "m1"
    fast, slow = folder / "fast", folder / "slow"
    assert (fast / "plan.jsonl").read_bytes() == (slow / "plan.jsonl").read_bytes()
    assert '"verdict": "pass"' in (fast / "gates.json").read_text()
    assert '"verdict": "fail"' in (slow / "gates.json").read_text()
    headline = next(line for line in captured.out.splitlines() if line.startswith("slow vs fast"))
    assert "significant: TTFT p50 +" in headline
    markdown = (folder / "comparison.md").read_text()
    assert "### slow minus fast" in markdown and "compared with --force" not in markdown
    assert (folder / "comparison.html").exists()
    assert "matrix 2/2: slow (embedded mock)" in captured.err


def _base() -> Scenario:
    return parse_scenario({"name": "m", "workload": [{"kind": "stream"}]})


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[target]]\nname = "a"\n', "at least two [[target]] entries"),
        (
            '[[target]]\nname = "a"\n[[target]]\nname = "a"\n',
            "two [[target]] entries are named 'a'",
        ),
        ('[[target]]\nname = "a b"\n[[target]]\nname = "c"\n', "[[target]] #1: needs name"),
        ('[[target]]\nname = "a"\nurl = "ftp://x"\n[[target]]\nname = "c"\n', "[[target]] 'a'"),
        ('[[target]]\nname = "a"\nmock = 3\n[[target]]\nname = "c"\n', "mock must be a table"),
        ('seed = 3\n[[target]]\nname = "a"\n[[target]]\nname = "c"\n', "unknown key 'seed'"),
        ("[[target]\n", "not valid TOML"),
    ],
)
def test_bad_matrix_files_name_file_and_entry(text: str, needle: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_matrix(text, "m.toml", _base())
    message = str(caught.value)
    assert message.startswith("m.toml") and needle in message and "\n" not in message


def test_entries_override_the_target_and_keep_the_workload() -> None:
    entries = parse_matrix(
        '[[target]]\nname = "a"\nurl = "http://127.0.0.1:1/v1"\n'
        '[[target]]\nname = "b"\n' + _mock(10) + "\n",
        "m.toml",
        _base(),
    )
    assert entries[0].scenario.target.url == "http://127.0.0.1:1/v1"
    assert entries[1].scenario.target.url is None
    assert entries[1].scenario.mock.deployments[0].name == "only"
    assert entries[0].scenario.workload == entries[1].scenario.workload


def test_the_matrix_exit_code_is_the_worst_gate() -> None:
    assert worst_code([0, 98, 99, 0]) == 99
    assert worst_code([0, 98]) == 98
    assert worst_code([0, 0]) == 0
