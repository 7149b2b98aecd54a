"""One mock's view of many workers: the workers' ledger files or Prometheus texts in; the
fleet's ledger (each line once, in the order the attempts finished, streamed) or fleet-wide
metrics (sums of counters, gauges and histogram buckets; usage shares kept per worker with a
``worker`` label) out. Pure but for reading the files.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import orjson

from harness.contract.ledger import file_lines

#: Gauges that are shares of one worker's capacity: summing them would mean nothing.
_PER_WORKER_SUFFIX = "_perc"


def finished_s(document: dict[str, object]) -> float:
    """When a ledger line's attempt finished, on the fleet's clock: ``received_s`` plus
    ``service_ms``. A worker appends each line as its attempt finishes (its parent, those of
    a dead worker's open attempts as it sees the death, before restarting it), so each file
    is in this order, and a merge by it needs one line per file at a time: by ``received_s``
    it could not be streamed, since a long attempt received early is written late."""
    received_s = document["received_s"]
    service_ms = document.get("service_ms") or 0.0
    assert isinstance(received_s, int | float) and isinstance(service_ms, int | float)
    return float(received_s) + float(service_ms) / 1000.0


def _keyed(
    path: Path, file_number: int, start: int, run_id: str | None
) -> Iterator[tuple[float, int, int, bytes]]:
    """One file's whole lines from byte ``start`` to its present end, those of ``run_id``
    only when given, each with its merge key; a line that is not JSON (the half a killed
    worker wrote, ended by its successor) is skipped."""
    try:
        end = path.stat().st_size
    except FileNotFoundError:
        return
    for line_number, line in enumerate(file_lines(path, start, end)):
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(document, dict):
            continue
        if run_id is not None and document.get("run_id") != run_id:
            continue
        yield finished_s(document), file_number, line_number, line


def merged_lines(
    paths: Sequence[Path], starts: dict[str, int], run_id: str | None = None
) -> Iterator[bytes]:
    """The JSON lines of every file (each from its ``starts`` offset by file name), those of
    ``run_id`` only when given, in the order their attempts finished (``finished_s``; ties:
    by file, then by line): a k-way merge that holds one line per file."""
    files = [
        _keyed(path, number, starts.get(path.name, 0), run_id) for number, path in enumerate(paths)
    ]
    for *_, line in heapq.merge(*files):
        yield line


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _with_worker(key: str, index: int) -> str:
    if key.endswith("}"):
        return f'{key[:-1]},worker="{index}"}}'
    return f'{key}{{worker="{index}"}}'


class _Family:
    __slots__ = ("comments", "samples")

    def __init__(self) -> None:
        self.comments: list[str] = []
        self.samples: dict[str, int | float] = {}


def merged_metrics(texts: Iterable[tuple[int, str]]) -> bytes:
    """The exposition text of the fleet from each worker's (index, text)."""
    families: dict[str, _Family] = {}
    current = _Family()
    families[""] = current
    for index, text in texts:
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(" ", 3)
                name = parts[2] if len(parts) > 2 else ""
                current = families.setdefault(name, _Family())
                if line not in current.comments:
                    current.comments.append(line)
                continue
            key, _, value = line.rpartition(" ")
            name = key.split("{", 1)[0]
            if name.endswith(_PER_WORKER_SUFFIX):
                key = _with_worker(key, index)
            current.samples[key] = current.samples.get(key, 0) + _number(value)
    out: list[str] = []
    for family in families.values():
        out.extend(family.comments)
        out.extend(f"{key} {value}" for key, value in family.samples.items())
    return ("\n".join(out) + "\n").encode()
