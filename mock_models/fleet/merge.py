"""One mock's view of many workers: the workers' ledger files or Prometheus texts in; the
fleet's ledger (each line once, by received time) or fleet-wide metrics (sums of counters,
gauges and histogram buckets; usage shares kept per worker with a ``worker`` label) out. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

#: Gauges that are shares of one worker's capacity: summing them would mean nothing.
_PER_WORKER_SUFFIX = "_perc"


def ledger_lines(data: bytes, start: int = 0) -> list[bytes]:
    """The whole lines of one ledger file from byte ``start`` (a line still being written,
    without its newline, is left for the next read)."""
    end = data.rfind(b"\n") + 1
    return [line for line in data[start:end].split(b"\n") if line.strip()]


def merged_ledger(
    paths: Sequence[Path], starts: dict[str, int], run_id: str | None = None
) -> bytes:
    """The JSON lines of every file (each from its ``starts`` offset by file name), those of
    ``run_id`` only when given, ordered by ``received_s`` (ties: by file)."""
    keyed: list[tuple[float, int, int, bytes]] = []
    for file_number, path in enumerate(paths):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        for line_number, line in enumerate(ledger_lines(data, starts.get(path.name, 0))):
            try:
                document = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # the half a killed worker wrote, ended by its successor
            if run_id is not None and document.get("run_id") != run_id:
                continue
            keyed.append((float(document["received_s"]), file_number, line_number, line))
    keyed.sort()
    return b"".join(line + b"\n" for *_, line in keyed)


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
