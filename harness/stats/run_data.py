"""What gates and comparisons read of a run: a run directory in, a ``RunData`` out.

With ``harness.stats.file_samples`` the only modules of ``harness.stats`` that touch files.
``summary.json`` is required (run ``tokenstorm report RUN_DIR`` first when it is missing);
plan, records and ledger are read when present, because tag filters, percentiles the summary
does not carry, and the noise checks need the per-attempt samples. A run of more attempt
records than ``streamed_above`` is not read into memory (about 20 KB an attempt): its
``files`` are kept instead, and its samples are queried from them one metric at a time
(``harness.stats.sources``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract.records import (
    AttemptRecord,
    LedgerEntry,
    PlannedRequest,
    RecordFileError,
    read_jsonl,
)
from harness.run_dir import RunPaths
from harness.store.chunks import has_records, read_records
from harness.store.query import count_attempts


class RunDataError(ValueError):
    """A run directory cannot be read; ``str()`` is one line naming the file."""


@dataclass(frozen=True, slots=True)
class RunData:
    label: str
    summary: Mapping[str, Any]
    manifest: Mapping[str, Any] = field(default_factory=dict)
    plan: tuple[PlannedRequest, ...] = ()
    #: None when only the summary is known (then filters and extra percentiles are unknown).
    records: tuple[AttemptRecord, ...] | None = None
    ledger: tuple[LedgerEntry, ...] | None = None
    #: sha256 of plan.jsonl: equal hashes mean the same planned workload.
    plan_sha256: str | None = None
    #: Set when the run was too large to read into memory: plan, records and ledger are then
    #: empty or None, and samples come from these files (``harness.stats.sources``).
    files: RunPaths | None = None


def _json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunDataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise RunDataError(f"{path}: expected a JSON object")
    return document


def _sha256(path: Path) -> str | None:
    if not path.exists():
        return None
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_run(root: Path, *, streamed_above: int | None = None) -> RunData:
    """Read the run in ``root``; ``RunDataError`` when it is not a summarised run directory.

    With ``streamed_above`` (``harness.rebuild.STREAMED_ABOVE_ATTEMPTS``), a run of more
    attempt records than that is not read into memory: its ``files`` are set instead."""
    paths = RunPaths(root)
    if not root.is_dir():
        raise RunDataError(f"{root}: no such run directory")
    if not paths.summary.exists():
        raise RunDataError(f"{paths.summary}: missing; run 'tokenstorm report {root}' first")
    summary = _json(paths.summary)
    manifest = _json(paths.manifest) if paths.manifest.exists() else {}
    digest = _sha256(paths.plan)
    label = str(summary.get("run_id") or manifest.get("run_id") or root.name)
    try:
        large = streamed_above is not None and count_attempts(paths) > streamed_above
    except (OSError, ValueError) as exc:  # a chunk that is not Parquet: pyarrow's ValueError
        raise RunDataError(f"{paths.records}: cannot count its records ({exc})") from None
    if large:
        return RunData(label, summary, manifest, plan_sha256=digest, files=paths)
    try:
        plan = tuple(read_jsonl(paths.plan, PlannedRequest)) if paths.plan.exists() else ()
        records = tuple(read_records(paths.records)) if has_records(paths.records) else None
        ledger = tuple(read_jsonl(paths.ledger, LedgerEntry)) if paths.ledger.exists() else None
    except RecordFileError as exc:
        raise RunDataError(str(exc)) from None
    return RunData(label, summary, manifest, plan, records, ledger, digest)
