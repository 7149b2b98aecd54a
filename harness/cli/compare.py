"""``tokenstorm compare RUN_DIR RUN_DIR... --out DIR``: runs of one workload side by side.

The first run is the reference. Writes ``comparison.md`` and ``comparison.html`` into
``--out`` and prints the headline of each pair. Refuses runs that differ in what
``--require-same`` names (by default the planned workload, their ``plan.jsonl`` files) unless
``--force``, with one line naming the run directories and the field.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness import rebuild
from harness.cli.errors import UserError
from harness.compare import compare_runs, incompatibilities, render_html, render_markdown
from harness.compare.compat import (
    DEFAULT_REQUIRE_SAME,
    SAME_FIELDS,
    RequireSameError,
    parse_require_same,
)
from harness.compare.render import headline
from harness.stats.file_samples import OUT_OF_CORE
from harness.stats.run_data import RunDataError, load_run
from harness.stats.slices import SliceError

#: Seed of the bootstrap, so the same runs always give the same intervals.
BOOTSTRAP_SEED = 0xC0A7


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "compare",
        help="compare runs of the same workload side by side",
        description="Side-by-side figures of runs of one workload (the first is the "
        "reference), differences with confidence intervals and significance.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="results/<run_id> dirs")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="folder for comparison.md and comparison.html"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare even when the runs differ in a --require-same field",
    )
    parser.add_argument(
        "--require-same",
        default=",".join(DEFAULT_REQUIRE_SAME),
        metavar="FIELDS",
        help="comma-separated fields every run must share with the first: "
        "plan (the plan.jsonl files, the default), "
        + ", ".join(SAME_FIELDS)
        + ", or a dotted manifest.json path",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        require_same = parse_require_same(args.require_same)
    except RequireSameError as exc:
        raise UserError(str(exc)) from None
    return write_comparison(
        [Path(d) for d in args.run_dirs], Path(args.out), args.force, require_same=require_same
    )


def write_comparison(
    paths: list[Path],
    out: Path,
    force: bool,
    forced_note: str = "compared with --force although",
    require_same: tuple[str, ...] = DEFAULT_REQUIRE_SAME,
) -> int:
    """Compare the runs in ``paths``, write ``comparison.md``/``.html`` into ``out``, print
    each run's headline; raises ``UserError`` for unreadable or (unless ``force``)
    incomparable runs (those differing in a ``require_same`` field)."""
    if len({p.resolve() for p in paths}) != len(paths):
        raise UserError("the same run directory is given twice")
    try:
        runs = [load_run(p, streamed_above=rebuild.STREAMED_ABOVE_ATTEMPTS) for p in paths]
    except RunDataError as exc:
        raise UserError(str(exc)) from None
    if len({r.label for r in runs}) != len(runs):
        # Runs from different --out folders may share a run id (CI often names every run
        # alike): tell them apart by their directories.
        runs = [replace(r, label=str(p)) for r, p in zip(runs, paths, strict=True)]
    try:
        problems = incompatibilities(runs, require_same, [str(p) for p in paths])
    except RequireSameError as exc:
        raise UserError(f"--require-same {exc}") from None
    notes = [f"runs required to share: {', '.join(dict.fromkeys(require_same))}"]
    if problems:
        if not force or len(runs) < 2:
            hint = "" if len(runs) < 2 else " (pass --force to compare anyway)"
            raise UserError("; ".join(problems) + hint)
        notes += [f"{forced_note}: {p}" for p in problems]
        for note in notes[1:]:
            sys.stdout.write(note + "\n")
    notes += [
        f"run {run.label} has over {rebuild.STREAMED_ABOVE_ATTEMPTS:,} attempts and is "
        f"{OUT_OF_CORE} (DuckDB over its record chunks, plan and ledger)"
        for run in runs
        if run.files is not None
    ]
    try:
        comparison = compare_runs(runs, np.random.default_rng(BOOTSTRAP_SEED))
    except SliceError as exc:
        raise UserError(str(exc)) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(render_markdown(comparison, notes), encoding="utf-8")
        (out / "comparison.html").write_text(render_html(comparison, notes), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write the comparison ({exc.strerror})") from None
    for run, diffs in comparison.differences.items():
        sys.stdout.write(headline(run, comparison.runs[0], diffs) + "\n")
    sys.stdout.write(f"comparison: {out / 'comparison.html'}\n")
    return 0
