"""A fleet worker's journal of open attempts: one line per attempt as it is admitted to its
deployment in; after the worker died, the ``reset`` ledger lines of the attempts it left open
(journalled, but without a ledger line of their own) out.

Each worker appends to ``journal-I.jsonl`` beside its ``ledger-I.jsonl`` (one ``write`` per
line, unbuffered, so a killed worker loses nothing it had written). An attempt's journal line
and its ledger line share ``received_s`` (its worker's reading, unique per worker), ``run_id``,
``request_id`` and the attempt number: that key matches the two, so the parent needs no end
marker and a ledger line written just before a death is never doubled by a ``reset`` line.
``left_open`` is pure; ``JournalWriter`` is the worker's end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from harness.contract.ledger import WORKER_DIED_FAULT
from harness.contract.outcomes import Outcome
from harness.contract.records import LedgerEntry
from mock_models.http.draft import AttemptDraft

_Key = tuple[float, str | None, str | None, int | None]


def journal_path(folder: Path, index: int) -> Path:
    return folder / f"journal-{index}.jsonl"


def open_line(draft: AttemptDraft, api: str) -> bytes:
    """The journal line of an attempt just admitted to ``draft.deployment``."""
    return orjson.dumps(
        {
            "received_s": draft.received_s,
            "run_id": draft.run_id,
            "request_id": draft.request_id,
            "attempt": draft.attempt,
            "api": api,
            "deployment": draft.deployment,
            "model": draft.model,
            "stream": draft.stream,
            "prompt_tokens": draft.prompt_tokens,
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


class JournalWriter:
    """Appends the journal lines of one worker life (``__call__`` is ``MockService.journal``)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, draft: AttemptDraft, api: str) -> None:
        os.write(self._fd, open_line(draft, api))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _documents(data: bytes) -> list[dict[str, Any]]:
    """The whole JSON lines of ``data`` (half a line, or one a kill left broken, skipped)."""
    found = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(document, dict) and "received_s" in document:
            found.append(document)
    return found


def _key(document: dict[str, Any]) -> _Key:
    return (
        float(document["received_s"]),
        document.get("run_id"),
        document.get("request_id"),
        document.get("attempt"),
    )


def left_open(journal: bytes, ledger: bytes, died_s: float) -> list[LedgerEntry]:
    """The ``reset`` ledger lines (fault ``WORKER_DIED_FAULT``) of the attempts in ``journal``
    that have no line in ``ledger``, for a worker found dead at ``died_s`` (on the fleet's
    clock, as ``received_s``). Nothing is known of how far they got: no tokens, status 0, lag
    unknown; ``service_ms`` runs from their arrival to the death being seen."""
    recorded = {_key(document) for document in _documents(ledger)}
    lines = []
    for opened in _documents(journal):
        key = _key(opened)
        if key in recorded:
            continue
        recorded.add(key)  # a journal line written twice still makes one ledger line
        lines.append(
            LedgerEntry(
                run_id=key[1],
                request_id=key[2],
                attempt=key[3],
                received_s=key[0],
                deployment=str(opened.get("deployment", "")),
                model=str(opened.get("model", "")),
                api=str(opened.get("api", "")),
                stream=bool(opened.get("stream", False)),
                prompt_tokens=int(opened.get("prompt_tokens", 0)),
                cached_tokens=0,
                completion_tokens=0,
                fault=WORKER_DIED_FAULT,
                outcome=Outcome.RESET.value,
                status_code=0,
                service_ms=round(max(0.0, died_s - key[0]) * 1000.0, 3),
                lag_ms=None,
            )
        )
    return lines
