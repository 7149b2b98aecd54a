"""What runs must share to be compared: ``--require-same`` fields in, one line naming the run
directories and the differing field out (or a forced comparison that says so)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.compare import incompatibilities
from harness.compare.compat import RequireSameError, parse_require_same
from harness.contract.records import write_jsonl
from harness.stats.run_data import RunData

MakeRun = Callable[..., RunData]


def _pair(make_run: MakeRun, req: type, **second: Any) -> tuple[RunData, RunData]:
    requests = [req(0.05, 0.2, at_s=1 + i * 0.1) for i in range(30)]
    first = make_run(requests, "a")
    manifest = {
        **first.manifest,
        "seed": 1,
        "api": "openai-chat",
        "scenario": {**first.manifest["scenario"], "target": {"model": "m1"}},
    }
    first = replace(first, manifest=manifest)
    other = replace(make_run(requests, "b"), manifest={**manifest, **second})
    return first, other


def test_by_default_only_the_plan_must_match(make_run: MakeRun, req: type) -> None:
    a, b = _pair(make_run, req, seed=2)
    assert incompatibilities([a, b]) == []
    assert incompatibilities([a, replace(b, plan_sha256="other")])[0].startswith(
        "run b planned a different workload than a"
    )


def test_named_fields_and_dotted_paths_are_checked(make_run: MakeRun, req: type) -> None:
    a, b = _pair(make_run, req, seed=2)
    [problem] = incompatibilities([a, b], ("plan", "seed", "api"), ["dir/a", "dir/b"])
    assert problem == "runs dir/a and dir/b differ in seed (1 vs 2)"
    scenario = {**b.manifest["scenario"], "target": {"model": "m2"}}
    c = replace(b, manifest={**a.manifest, "scenario": scenario})
    [problem] = incompatibilities([a, c], ("target_model",))
    assert 'differ in target_model ("m1" vs "m2")' in problem
    assert incompatibilities([a, c], ("scenario.target.model",)) == [
        problem.replace("target_model", "scenario.target.model")
    ]
    d = replace(b, manifest={k: v for k, v in a.manifest.items() if k != "seed"})
    assert "(1 vs absent)" in incompatibilities([a, d], ("seed",))[0]


def test_a_field_no_run_has_is_an_error(make_run: MakeRun, req: type) -> None:
    a, b = _pair(make_run, req)
    with pytest.raises(RequireSameError, match=r"colour: no run.s manifest"):
        incompatibilities([a, b], ("colour",))
    with pytest.raises(RequireSameError, match="field names separated by commas"):
        parse_require_same("plan,,seed")
    assert parse_require_same(" plan, seed ") == ("plan", "seed")


def _write(run: RunData, root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "summary.json").write_text(json.dumps(run.summary))
    (root / "manifest.json").write_text(json.dumps(run.manifest))
    write_jsonl(root / "plan.jsonl", run.plan)
    write_jsonl(root / "records.jsonl", run.records or ())
    return root


def test_compare_refuses_with_one_line_and_force_says_it_was_forced(
    make_run: MakeRun, req: type, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _pair(make_run, req, seed=2)
    dir_a, dir_b = _write(a, tmp_path / "x" / "a"), _write(b, tmp_path / "y" / "b")
    args = ["compare", str(dir_a), str(dir_b), "--out", str(tmp_path / "cmp")]
    assert main(args) == 0  # the plans match, and that is all the default asks
    assert "runs required to share: plan" in (tmp_path / "cmp" / "comparison.md").read_text()
    capsys.readouterr()
    assert main([*args, "--require-same", "plan,seed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"runs {dir_a} and {dir_b} differ in seed (1 vs 2)" in err and "--force" in err
    assert (
        main([*args, "--require-same", "plan,seed", "--force", "--out", str(tmp_path / "forced")])
        == 0
    )
    assert "compared with --force although: runs" in capsys.readouterr().out
    markdown = (tmp_path / "forced" / "comparison.md").read_text()
    assert "compared with --force although: runs" in markdown and "differ in seed" in markdown
    assert main([*args, "--require-same", "colour"]) == 2
    assert "--require-same colour" in capsys.readouterr().err
