"""What a summary is computed from: the run's plan, records, ledger and its origin, prices, SLO
and the generator's own CPU and wall time, in one frozen value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest
from harness.contract.terms import Slo
from harness.cost import PriceBook
from harness.metrics.validity import ValidityLimits

#: Where a run's ledger came from (``ledger_origin``): the embedded mock the run started, the
#: target itself (a tokenstorm mock or proxy answering at the target's address), a URL given
#: with ``--ledger`` or ``target.ledger``, or not recorded (runs of older versions).
LEDGER_ORIGINS = ("embedded", "target", "option", "unknown")


@dataclass(frozen=True, slots=True)
class SummaryInputs:
    run_id: str
    duration_s: float
    plan: Sequence[PlannedRequest]
    records: Sequence[AttemptRecord]
    ledger: Sequence[LedgerEntry] | None
    prices: PriceBook
    slo: Slo
    client_cpu_s: float | None
    wall_s: float | None
    limits: ValidityLimits = field(default_factory=ValidityLimits)
    #: The ledger's URL (secrets redacted) and origin, one of ``LEDGER_ORIGINS``.
    ledger_url: str | None = None
    ledger_origin: str = "unknown"
    #: Attempts that waited for a free connection of the client's pool, and its size (None:
    #: not measured, runs of older versions).
    pool_waits: int | None = None
    max_connections: int | None = None
    #: What the client sized and counted prompts in (``mock``, or a tokenizer file's name).
    tokenizer: str = "mock"
    #: Sessions kept in flight by a closed loop (``[arrival] concurrency``); None: open loop.
    concurrency: int | None = None
    #: The similarity a semantic cache in front of the upstream answers from (``[target]``):
    #: a hit on a request planned less similar is a false hit. None: not given.
    cache_similarity_threshold: float | None = None
