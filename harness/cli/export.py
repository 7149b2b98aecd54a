"""``tokenstorm export RUN --format parquet|csv``: a run's plan, records and ledger as tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.errors import UserError
from harness.contract.records import RecordFileError
from harness.store.frames import FORMATS, export_run


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "export", help="write a run's plan, records and ledger as Parquet or CSV tables"
    )
    parser.add_argument("run_dir", help="a results/<run_id> directory")
    parser.add_argument("--format", choices=FORMATS, default="parquet", dest="file_format")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write (default: RUN_DIR/export)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    if not (run / "manifest.json").exists():
        raise UserError(f"{run}: no manifest.json; give a results/<run_id> directory")
    try:
        written = export_run(run, args.out or run / "export", args.file_format)
    except (RecordFileError, OSError) as exc:
        raise UserError(str(exc)) from None
    for path in written:
        sys.stdout.write(f"{path}\n")
    return 0
