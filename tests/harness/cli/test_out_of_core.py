"""``tokenstorm gate`` and ``tokenstorm compare`` on synthesised runs (``bench/synth_run.py``)
above ``STREAMED_ABOVE_ATTEMPTS`` (lowered here) read them from their files, never into
memory, and write what they write for the same runs read into memory: the same gates.json,
the same comparison rows, intervals included."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness.rebuild
import harness.stats.run_data
from bench.synth_run import synthesise
from harness.cli.main import main
from harness.run_dir import RunPaths

BUDGET = """
[thresholds]
"ttft_ms" = ["p(99) < 100", "p(50) < 60", { threshold = "p(90) < 70", over = "1s" }]
"e2e_ms{workload=stream}" = ["p(99) < 1500"]
"error_rate{model=mock-small}" = ["rate < 0.01"]
[regression]
"ttft_ms" = ["p(50) <= baseline * 0.9"]
"e2e_ms" = ["p(99) <= baseline * 1.0"]
[baseline]
require_same = ["seed"]
"""


ROWS = (
    "| TTFT",
    "| E2E",
    "| error rate",
    "| cache hit rate",
    "| goodput",
    "| cost per 1k",
    "| retry amplification",
)


def _refuse(*_: object, **__: object) -> None:
    raise AssertionError("records read into memory")


def test_gate_and_compare_read_large_runs_from_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run, base = tmp_path / "run", tmp_path / "base"
    synthesise(run, 3000)
    synthesise(base, 2500)
    monkeypatch.setattr(harness.rebuild, "STREAMED_ABOVE_ATTEMPTS", 1000)
    for root in (run, base):  # summarised as a large run is: no cost, no ledger figures
        harness.rebuild.rebuild_run(RunPaths(root), reports=False)
    budget = tmp_path / "budget.toml"
    budget.write_text(BUDGET, encoding="utf-8")
    written: dict[str, tuple[int, str, str]] = {}
    for mode, above in (("memory", 10**9), ("files", 1000)):
        monkeypatch.setattr(harness.rebuild, "STREAMED_ABOVE_ATTEMPTS", above)
        if mode == "files":
            monkeypatch.setattr(harness.stats.run_data, "read_records", _refuse)
        code = main(["gate", str(run), "--budget", str(budget), "--baseline", str(base)])
        out = tmp_path / mode
        assert main(["compare", str(run), str(base), "--out", str(out), "--force"]) == 0
        comparison = (out / "comparison.md").read_text(encoding="utf-8")
        written[mode] = (code, (run / "gates.json").read_text(encoding="utf-8"), comparison)
    capsys.readouterr()
    assert written["files"][:2] == written["memory"][:2]
    note = [line for line in written["files"][2].splitlines() if "in bounded memory" in line]
    assert len(note) == 2 and "over 1,000 attempts" in note[0]
    # Every row, resampled alike on both paths.
    for mode in written:
        rows = [line for line in written[mode][2].splitlines() if line.startswith(ROWS)]
        assert len(rows) == 2 * (len(ROWS) + 2), mode  # values and differences; p50, p99
        written[mode] = (*written[mode][:2], "\n".join(rows))
    assert written["files"] == written["memory"]
    assert "TTFT" in (run / "report.html").read_text(encoding="utf-8")
