"""The upstream ledger: ``LedgerEntry`` lines in as attempts finish, kept in memory, optionally
appended to a JSON-lines file, and served back as JSON lines (all, or one run's)."""

from __future__ import annotations

from pathlib import Path

from harness.contract.records import JsonlAppender, LedgerEntry, to_json_line

#: The ``fault`` of a ledger line a mock fleet's parent wrote for an attempt that one of its
#: workers had open when it died (outcome ``reset``; how far the attempt got is unknown).
WORKER_DIED_FAULT = "worker_died"


class Ledger:
    """Every attempt an upstream received, in the order the attempts finished."""

    __slots__ = ("_appender", "_entries")

    def __init__(self, path: Path | None = None) -> None:
        self._entries: list[LedgerEntry] = []
        self._appender = JsonlAppender(path) if path is not None else None

    def append(self, entry: LedgerEntry) -> None:
        self._entries.append(entry)
        if self._appender is not None:
            self._appender.append(entry)

    def entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """All entries, or those of ``run_id``."""
        if run_id is None:
            return list(self._entries)
        return [entry for entry in self._entries if entry.run_id == run_id]

    def to_jsonl(self, run_id: str | None = None) -> bytes:
        """The entries (all, or those of ``run_id``) as JSON lines."""
        return b"".join(to_json_line(entry) for entry in self.entries(run_id))

    def clear(self) -> int:
        """Forget the in-memory entries (the file keeps them); returns how many there were."""
        count = len(self._entries)
        self._entries.clear()
        return count

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None
