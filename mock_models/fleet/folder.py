"""The fleet's shared run folder: paths of each worker's ledger file and address record, the
active fault profile and the ledger's cleared marks in; small JSON documents read and written
atomically out.

Layout: ``worker-I.json`` (pid, private admin port, restarts), ``ledger-I.jsonl`` (worker I's
ledger lines, all its lives), ``faults.json`` (the profile last put), ``cleared.json`` (the
byte size of each ledger file when the ledger was last emptied), ``journal-I.jsonl``
(worker I's journal of open attempts, see ``fleet.journal``), ``listeners.json`` (each
pinned deployment's port and worker), ``runs/`` (each run's start: one file per run).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """Where one live worker answers for the fleet's private admin traffic."""

    index: int
    pid: int
    admin_port: int
    restarts: int


def ledger_path(folder: Path, index: int) -> Path:
    return folder / f"ledger-{index}.jsonl"


def end_last_line(path: Path) -> None:
    """End a half-written last line (its writer was killed) so the next line starts afresh."""
    try:
        with path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
    except FileNotFoundError:
        pass


def ledger_paths(folder: Path) -> list[Path]:
    """Every worker's ledger file, by index."""
    return sorted(folder.glob("ledger-*.jsonl"), key=lambda path: _index(path.stem))


def _index(stem: str) -> int:
    return int(stem.rsplit("-", 1)[1])


def write_atomic(path: Path, document: object) -> None:
    """Replace ``path`` with ``document`` as JSON, never leaving a half-written file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(orjson.dumps(document))
    temporary.replace(path)


def read_document(path: Path) -> object | None:
    """The JSON document at ``path``, or None when it does not exist."""
    try:
        document: object = orjson.loads(path.read_bytes())
        return document
    except FileNotFoundError:
        return None


def announce(folder: Path, record: WorkerRecord) -> None:
    write_atomic(
        folder / f"worker-{record.index}.json",
        {
            "index": record.index,
            "pid": record.pid,
            "admin_port": record.admin_port,
            "restarts": record.restarts,
        },
    )


def workers(folder: Path) -> list[WorkerRecord]:
    """The workers' latest records, by index (a restarted worker's replaces its last)."""
    found: list[WorkerRecord] = []
    for path in folder.glob("worker-*.json"):
        document = read_document(path)
        if isinstance(document, dict):
            found.append(WorkerRecord(**document))
    return sorted(found, key=lambda record: record.index)


def faults_path(folder: Path) -> Path:
    return folder / "faults.json"


def cleared_path(folder: Path) -> Path:
    return folder / "cleared.json"


def cleared_offsets(folder: Path) -> dict[str, int]:
    """Per ledger file name, the byte offset its lines start at since the last clear."""
    document = read_document(cleared_path(folder))
    return {str(k): int(v) for k, v in document.items()} if isinstance(document, dict) else {}


def mark_cleared(folder: Path) -> int:
    """Empty the fleet's ledger by moving every file's start to its end; returns how many
    lines that dropped."""
    before = cleared_offsets(folder)
    offsets: dict[str, int] = {}
    dropped = 0
    for path in ledger_paths(folder):
        start = before.get(path.name, 0)
        lines, end = _lines_after(path, start)  # a line still being written stays for later
        dropped += lines
        offsets[path.name] = max(start, end)
    write_atomic(cleared_path(folder), offsets)
    return dropped


def _lines_after(path: Path, start: int, piece_bytes: int = 1 << 20) -> tuple[int, int]:
    """How many whole lines ``path`` holds from byte ``start``, and the byte offset just past
    the last of them (``start`` when none), read a piece at a time: a day's ledger file never
    whole in memory."""
    lines, end = 0, start
    with path.open("rb") as handle:
        handle.seek(start)
        at = start
        while piece := handle.read(piece_bytes):
            count = piece.count(b"\n")
            if count:
                lines += count
                end = at + piece.rfind(b"\n") + 1
            at += len(piece)
    return lines, end


def listeners_path(folder: Path) -> Path:
    return folder / "listeners.json"


def write_pinned(folder: Path, pinned: dict[str, tuple[int, int]]) -> None:
    """Record each pinned deployment's (port, worker)."""
    document = {name: {"port": port, "worker": worker} for name, (port, worker) in pinned.items()}
    write_atomic(listeners_path(folder), document)


def pinned(folder: Path) -> dict[str, tuple[int, int]]:
    """Each pinned deployment's (port, worker), in the settings' order."""
    document = read_document(listeners_path(folder))
    if not isinstance(document, dict):
        return {}
    return {str(k): (int(v["port"]), int(v["worker"])) for k, v in document.items()}


def _run_path(folder: Path, run_id: str) -> Path:
    return folder / "runs" / hashlib.sha256(run_id.encode()).hexdigest()[:32]


def run_started(folder: Path, run_id: str, now_s: float) -> float:
    """The fleet's start of ``run_id``: ``now_s`` when no worker has started it yet (this
    call then records it), else the instant recorded first. A worker links a complete file
    into place, so a reader never sees one half written and only one link wins."""
    path = _run_path(folder, run_id)
    path.parent.mkdir(exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(repr(now_s))
    try:
        os.link(temporary, path)
        return now_s
    except FileExistsError:
        return float(path.read_text())
    finally:
        temporary.unlink(missing_ok=True)


def set_run_start(folder: Path, run_id: str, started_s: float) -> None:
    """Record the start a run announced (it replaces a first request's)."""
    path = _run_path(folder, run_id)
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, started_s)


def forget_runs(folder: Path) -> None:
    shutil.rmtree(folder / "runs", ignore_errors=True)
