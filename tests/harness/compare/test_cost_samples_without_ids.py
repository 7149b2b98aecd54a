"""Per-request cost samples from a ledger: given when its lines name requests, refused (no
test, rather than an interval around zero) when a gateway dropped the ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.contract.records import LedgerEntry
from harness.stats.request_samples import request_costs
from harness.stats.run_data import RunData


def _ledger(run: RunData, with_ids: bool) -> tuple[LedgerEntry, ...]:
    assert run.records is not None
    return tuple(
        LedgerEntry(
            run_id=run.label if with_ids else None,
            request_id=record.request_id if with_ids else None,
            attempt=None,
            received_s=record.sent_s or 0.0,
            deployment="d",
            model="mock-small",
            api="openai-chat",
            stream=True,
            prompt_tokens=100,
            cached_tokens=0,
            cache_write_tokens=0,
            completion_tokens=3,
            fault=None,
            outcome="ok",
            status_code=200,
            service_ms=10.0,
        )
        for record in run.records
    )


def test_cost_samples_need_request_ids_in_the_ledger(
    make_run: Callable[..., RunData], req: Any
) -> None:
    run = make_run([req(0.1, 0.3, at_s=1 + i) for i in range(5)], "tagged")
    tagged = request_costs(replace(run, ledger=_ledger(run, with_ids=True)))
    assert tagged is not None and all(value > 0 for value in tagged.values)
    assert request_costs(replace(run, ledger=_ledger(run, with_ids=False))) is None
