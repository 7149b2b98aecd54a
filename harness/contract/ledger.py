"""The upstream ledger: ``LedgerEntry`` lines in as attempts finish, served back as JSON lines
(all, or one run's), in pieces of bounded size.

Without a file the lines are kept in memory. With one, they are appended to it (flushed line by
line) and *only* there: serving reads the file back, from where this ledger started (or was
last cleared) on, a line at a time, so a mock or proxy that serves a day-long soak holds no
line in memory, neither while it records nor while it serves.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Final

import orjson

from harness.contract.records import JsonlAppender, LedgerEntry, from_dict, to_json_line

#: The ``fault`` of a ledger line a mock fleet's parent wrote for an attempt that one of its
#: workers had open when it died (outcome ``reset``; how far the attempt got is unknown).
WORKER_DIED_FAULT = "worker_died"

#: How many bytes of whole lines one piece of a served ledger holds at most (a single longer
#: line makes a piece of its own).
PIECE_BYTES: Final = 64 * 1024


def pieces_of(
    lines: Iterable[bytes], piece_bytes: int = PIECE_BYTES
) -> Generator[bytes, None, None]:
    """``lines`` (each newline-terminated) joined into pieces of at most ``piece_bytes``."""
    piece: list[bytes] = []
    size = 0
    for line in lines:
        if piece and size + len(line) > piece_bytes:
            yield b"".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line)
    if piece:
        yield b"".join(piece)


def file_lines(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The whole lines of ``path`` between byte offsets ``start`` and ``end``, read one at a
    time (a last line without its newline, still being written, is left out)."""
    with path.open("rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            line = handle.readline(left)
            if not line.endswith(b"\n"):
                return
            left -= len(line)
            yield line


def of_run(lines: Iterable[bytes], run_id: str | None) -> Iterator[bytes]:
    """The JSON lines of ``run_id`` (all of them when None)."""
    if run_id is None:
        yield from lines
        return
    for line in lines:
        if orjson.loads(line).get("run_id") == run_id:
            yield line


class Ledger:
    """Every attempt an upstream received, in the order the attempts finished."""

    __slots__ = ("_appender", "_count", "_entries", "_path", "_start")

    def __init__(self, path: Path | None = None) -> None:
        self._entries: list[LedgerEntry] = []
        self._path = path
        self._appender = JsonlAppender(path) if path is not None else None
        # A file that already holds lines (another process's) is served from here on.
        self._start = path.stat().st_size if path is not None else 0
        self._count = 0

    def append(self, entry: LedgerEntry) -> None:
        if self._appender is None:
            self._entries.append(entry)
        else:
            self._appender.append(entry)
        self._count += 1

    def _lines(self, run_id: str | None) -> Iterator[bytes]:
        """This ledger's lines (all, or those of ``run_id``) as they are now: those appended
        meanwhile are not served."""
        if self._path is None:
            held = itertools.islice(self._entries, len(self._entries))
            return (to_json_line(e) for e in held if run_id is None or e.run_id == run_id)
        return of_run(file_lines(self._path, self._start, self._path.stat().st_size), run_id)

    def pieces(
        self, run_id: str | None = None, piece_bytes: int = PIECE_BYTES
    ) -> Generator[bytes, None, None]:
        """The JSON lines (all, or those of ``run_id``) in pieces of at most ``piece_bytes``;
        from a file, nothing but the piece being made is held in memory."""
        return pieces_of(self._lines(run_id), piece_bytes)

    def entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """All entries, or those of ``run_id`` (a list: for small ledgers and tests)."""
        if self._path is None:
            return [e for e in self._entries if run_id is None or e.run_id == run_id]
        return [from_dict(LedgerEntry, orjson.loads(line)) for line in self._lines(run_id)]

    def to_jsonl(self, run_id: str | None = None) -> bytes:
        """The entries (all, or those of ``run_id``) as JSON lines, in one piece."""
        return b"".join(self.pieces(run_id))

    def clear(self) -> int:
        """Forget the entries (a file keeps them, but they are no longer served); returns how
        many there were."""
        count = self._count
        self._entries.clear()
        if self._path is not None:
            self._start = self._path.stat().st_size
        self._count = 0
        return count

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None
