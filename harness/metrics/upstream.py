"""The upstream's view: ledger entries and client attempts in, correlation and overhead out.

Ledger lines are matched to client attempts by ``(request_id, attempt)``; when a ledger line
has no ``attempt`` the match falls back to ``request_id`` alone. Among the ledger lines of one
client attempt (a gateway may retry or hedge it upstream), the first successful one is the
one that *delivered* the answer, and only when the client's attempt itself succeeded; every
other line is waste. A successful ledger line without a ``request_id`` (a gateway that drops
unknown headers) cannot be matched and is assumed delivered, so waste is then a lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, LedgerEntry
from harness.metrics.latency import e2e_s, is_ok


def entries_of_run(ledger: Sequence[LedgerEntry], run_id: str) -> list[LedgerEntry]:
    """Ledger lines of this run: those whose ``run_id`` is unset or equal to ``run_id``."""
    return [entry for entry in ledger if entry.run_id is None or entry.run_id == run_id]


@dataclass(frozen=True, slots=True)
class Correlation:
    """Per ledger entry whether it delivered an answer, plus the matched pairs."""

    entries: tuple[LedgerEntry, ...]
    delivered: tuple[bool, ...]
    pairs: tuple[tuple[AttemptRecord, LedgerEntry], ...]
    with_ids: int

    @property
    def possible(self) -> bool:
        """True when at least one ledger line carried a request id."""
        return self.with_ids > 0


def correlate(entries: Sequence[LedgerEntry], records: Sequence[AttemptRecord]) -> Correlation:
    """Match ledger lines to successful client attempts (see the module docstring)."""
    ok_by_key: dict[tuple[str, int], AttemptRecord] = {}
    ok_by_request: dict[str, AttemptRecord] = {}
    for record in records:
        if is_ok(record):
            ok_by_key[(record.request_id, record.attempt)] = record
            ok_by_request.setdefault(record.request_id, record)
    used_keys: set[tuple[str, int]] = set()
    used_requests: set[str] = set()
    delivered: list[bool] = []
    pairs: list[tuple[AttemptRecord, LedgerEntry]] = []
    with_ids = 0
    for entry in sorted(entries, key=lambda e: e.received_s):
        if entry.request_id is not None:
            with_ids += 1
        if entry.outcome != Outcome.OK:
            delivered.append(False)
            continue
        if entry.request_id is None:
            delivered.append(True)
            continue
        match = _claim(
            entry.request_id, entry.attempt, ok_by_key, ok_by_request, used_keys, used_requests
        )
        delivered.append(match is not None)
        if match is not None:
            pairs.append((match, entry))
    ordered = tuple(sorted(entries, key=lambda e: e.received_s))
    return Correlation(ordered, tuple(delivered), tuple(pairs), with_ids)


def _claim(
    request_id: str,
    attempt: int | None,
    ok_by_key: dict[tuple[str, int], AttemptRecord],
    ok_by_request: dict[str, AttemptRecord],
    used_keys: set[tuple[str, int]],
    used_requests: set[str],
) -> AttemptRecord | None:
    if attempt is not None:
        key = (request_id, attempt)
        record = ok_by_key.get(key)
        if record is None or key in used_keys:
            return None
        used_keys.add(key)
        used_requests.add(request_id)
        return record
    record = ok_by_request.get(request_id)
    if record is None or request_id in used_requests:
        return None
    used_requests.add(request_id)
    used_keys.add((request_id, record.attempt))
    return record


def gateway_overhead_s(correlation: Correlation) -> list[float] | None:
    """Client E2E minus the upstream's service time, per matched pair; None when unmatched.

    Not clamped at zero: a negative figure means the two clocks disagree, which a reader
    should see rather than have hidden.
    """
    if not correlation.possible or not correlation.pairs:
        return None
    overheads: list[float] = []
    for record, entry in correlation.pairs:
        client_e2e = e2e_s(record)
        if client_e2e is not None:
            overheads.append(client_e2e - entry.service_ms / 1000.0)
    return overheads or None
