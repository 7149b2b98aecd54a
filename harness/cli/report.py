"""``tokenstorm report RUN_DIR``: rebuild summary.json, report.html and report.md from records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.console import render_summary
from harness.cli.errors import UserError
from harness.rebuild import RebuildError, rebuild_run
from harness.run_dir import RunPaths, read_manifest


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser("report", help="rebuild summary and reports of a run directory")
    parser.add_argument("run_dir", help="a results/<run_id> directory")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    paths = RunPaths(Path(args.run_dir))
    try:
        summary = rebuild_run(paths)
    except RebuildError as exc:
        raise UserError(str(exc)) from None
    manifest = read_manifest(paths)
    target = "embedded mock" if manifest.get("embedded_mock") else str(manifest.get("target_url"))
    sys.stdout.write(render_summary(summary, str(paths.report_html), target) + "\n")
    return 0
