"""The run's record sink on disk: each attempt to ``records.jsonl`` (flushed line by line) and
to the Parquet chunks, and what happens when the disk fills.

The first failed write (``ENOSPC``, a quota, an I/O error) turns the appender off: it writes
nothing more, so no half line follows a good one, and ``failure`` holds one line saying what
happened. Records written before stay readable: the JSONL lines are flushed, and whatever had
not reached a chunk is read back from the JSONL tail. ``check_free_space`` refuses a run
before it starts when the disk cannot hold an estimate of what it will write.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO

from harness.contract.records import AttemptRecord, to_json_line
from harness.store.chunks import CHUNK_AGE_S, CHUNK_ROWS, ChunkWriter, chunk_dir

#: Bytes a JSON record line takes besides its token times, and per token time (measured on
#: the demo's records: about 560 bytes of fields, 10 to 18 bytes a time); the columnar copy
#: adds a fraction of that (bench/records_format.py).
RECORD_LINE_BYTES = 700
TOKEN_TIME_BYTES = 18
COLUMNAR_SHARE = 0.3
#: Head room on top of the estimate: retries, reports, the ledger.
SPACE_MARGIN = 1.5


class StoreFullError(OSError):
    """The disk cannot take the run's records; ``str()`` is one line."""


def estimate_run_bytes(attempts: int, mean_max_tokens: float) -> int:
    """What ``attempts`` attempts of about ``mean_max_tokens`` tokens write, with margin."""
    line = RECORD_LINE_BYTES + TOKEN_TIME_BYTES * max(mean_max_tokens, 0.0)
    return int(attempts * line * (1 + COLUMNAR_SHARE) * SPACE_MARGIN)


def check_free_space(
    root: Path,
    attempts: int,
    mean_max_tokens: float,
    free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
) -> None:
    """Raise ``StoreFullError`` (one line) when ``root``'s disk lacks the room the run needs."""
    needed = estimate_run_bytes(attempts, mean_max_tokens)
    free = free_bytes(root)
    if free < needed:
        raise StoreFullError(
            f"{root}: the run needs about {needed / 1e6:,.0f} MB for {attempts:,} requests "
            f"(~{needed / max(attempts, 1):,.0f} bytes each) but its disk has "
            f"{free / 1e6:,.0f} MB free; free some space, shorten the run or use --out DIR"
        )


def _describe(exc: OSError, path: Path) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full"
    else:
        reason = exc.strerror or str(exc)
    return (
        f"{path}: cannot write records ({reason}); the run stopped, and every record "
        "written before is kept"
    )


class RecordAppender:
    """Appends attempt records to ``records.jsonl`` and its Parquet chunks."""

    def __init__(
        self,
        records_path: Path,
        clock_s: Callable[[], float],
        *,
        chunk_rows: int = CHUNK_ROWS,
        chunk_age_s: float = CHUNK_AGE_S,
        open_file: Callable[[Path], IO[bytes]] = lambda p: p.open("ab"),
    ) -> None:
        self._path = records_path
        self._handle = open_file(records_path)
        self._chunks = ChunkWriter(
            chunk_dir(records_path), clock_s, max_rows=chunk_rows, max_age_s=chunk_age_s
        )
        self._end = self._handle.tell()
        self.failure: str | None = None

    def append(self, record: AttemptRecord) -> bool:
        """Write one record; False (and ``failure`` set) once the disk refused a write."""
        if self.failure is not None:
            return False
        try:
            line = to_json_line(record)
            self._handle.write(line)
            self._handle.flush()
            self._end += len(line)
            self._chunks.add(record, self._end)
        except OSError as exc:
            self.failure = _describe(exc, self._path)
            return False
        return True

    def settle(self) -> None:
        """Wait until every chunk handed to the background writer is on disk."""
        try:
            self._chunks.settle()
        except OSError as exc:
            self.failure = self.failure or _describe(exc, self._path)

    def close(self) -> None:
        """Write the last chunk and close the JSONL file (a failed chunk stays in the JSONL)."""
        try:
            # After a failure nothing new is written; chunks already handed over finish.
            self._chunks.close(flush=self.failure is None)
        except OSError as exc:
            self.failure = _describe(exc, self._path)
        finally:
            try:
                self._handle.close()
            except OSError as exc:
                self.failure = self.failure or _describe(exc, self._path)
