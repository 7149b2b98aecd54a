"""The upstream ledger: ``LedgerEntry`` lines in as attempts finish, served back as JSON lines
(all, or one run's).

Without a file the lines are kept in memory. With one, they are appended to it (flushed line by
line) and *only* there: serving reads the file back, from where this ledger started (or was
last cleared) on, so a mock or proxy that serves a day-long soak holds no line in memory.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from harness.contract.records import JsonlAppender, LedgerEntry, from_dict, to_json_line

#: The ``fault`` of a ledger line a mock fleet's parent wrote for an attempt that one of its
#: workers had open when it died (outcome ``reset``; how far the attempt got is unknown).
WORKER_DIED_FAULT = "worker_died"


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

    def _lines(self) -> list[bytes]:
        """This ledger's lines in its file (a torn last line, if any, left out)."""
        assert self._path is not None
        with self._path.open("rb") as handle:
            handle.seek(self._start)
            return [line for line in handle if line.endswith(b"\n")]

    def entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """All entries, or those of ``run_id``."""
        if self._path is None:
            kept = self._entries
        else:
            kept = [from_dict(LedgerEntry, orjson.loads(line)) for line in self._lines()]
        return [entry for entry in kept if run_id is None or entry.run_id == run_id]

    def to_jsonl(self, run_id: str | None = None) -> bytes:
        """The entries (all, or those of ``run_id``) as JSON lines."""
        if self._path is None:
            return b"".join(to_json_line(entry) for entry in self.entries(run_id))
        lines = self._lines()
        if run_id is not None:
            lines = [line for line in lines if orjson.loads(line).get("run_id") == run_id]
        return b"".join(lines)

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
