"""Summarised run directories for the cost and upstream samples: the hand-made plans, records
and ledgers of ``tests.harness.store.handmade_run`` (retries, drops, unplanned ids, several
models and deployments, an unpriced model; ledger lines of gateway retries, without request
ids or attempt numbers, of other runs and of dead workers), plus a request id on two plan
lines, ledger lines of a request the client never sent, and a scenario price for a
deployment (with a cache price), written with a manifest and summarised as a run is."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.contract.records import LedgerEntry
from harness.rebuild import rebuild_run
from harness.run_dir import RunPaths
from tests.harness.store.handmade_run import (
    RUN_ID,
    attempts,
    ledger_of,
    planned,
    write_run,
)
from workloads.scenario import parse_scenario

#: How the run's upstream is known: no ledger, a ledger whose run lines all name requests,
#: or one with run lines that name none (a gateway that drops the headers).
LEDGERS = ("none", "with_ids", "some_without_ids")


def _scenario() -> dict[str, object]:
    scenario = parse_scenario(
        {
            "name": "costed",
            "seed": 1,
            "duration": "2s",
            "arrival": {"process": "constant", "rate": "40/s"},
            "workload": [{"kind": "stream", "max_tokens": 8}],
            "slo": {"ttft": "150ms", "e2e": "400ms"},
            "prices": {
                "d1": {
                    "input_per_mtok": 1.3,
                    "output_per_mtok": 7.1,
                    "cached_input_per_mtok": 0.37,
                },
                "d2": {"price_as": "gpt-4o"},
            },
        },
        "costed",
    )
    return scenario.model_dump(mode="json")


def _ghost(entry: LedgerEntry) -> LedgerEntry:
    """A line of a request the client never sent (its cost is no sent request's)."""
    return replace(entry, request_id="ghost", run_id=RUN_ID, model="mock-large", outcome="ok")


def _priced(entry: LedgerEntry) -> LedgerEntry:
    """A line naming no model nor deployment has no price: one that bills tokens is given a
    model (one that bills nothing keeps none, and costs 0)."""
    bills = entry.outcome == "ok" or entry.completion_tokens > 0
    unknown = not entry.model and not entry.deployment
    return replace(entry, model="mock-small") if bills and unknown else entry


def _ledger(
    entries: list[LedgerEntry], kind: str, rng: np.random.Generator
) -> list[LedgerEntry] | None:
    if kind == "none":
        return None
    entries = [_priced(e) for e in entries]
    if kind == "with_ids":  # other runs' lines may still lack ids: they are not this run's
        entries = [e for e in entries if e.request_id is not None or e.run_id == "other"]
    if entries:
        entries.insert(int(rng.integers(len(entries))), _ghost(entries[0]))
    return entries


def write_costed_run(
    root: Path, seed: int, size: int, *, ledger: str, unpriced: bool = False, varied: bool = True
) -> RunPaths:
    """A summarised run of ``size`` planned requests in ``root`` (run id ``RUN_ID``)."""
    rng = np.random.default_rng(seed)
    plan = [planned(i, rng, unpriced) for i in range(size)]
    if plan:  # the last line of an id names the model of attempts that name none
        other = "mock-small" if plan[0].model == "mock-large" else "mock-large"
        plan.append(replace(plan[0], model=other))
    records = attempts(size, rng, varied)
    entries = _ledger(ledger_of(records, rng, unpriced), ledger, rng)
    root.mkdir(parents=True)
    paths, appender = write_run(root, plan, records, entries)
    appender.close()
    manifest = {
        "schema": "tokenstorm.manifest/1",
        "run_id": RUN_ID,
        "seed": 1,
        "scenario": _scenario(),
        "client_cpu_s": 0.5,
        "wall_s": 3.0,
        "finished_at": "2026-12-04T00:00:00.000+00:00",
    }
    paths.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    rebuild_run(paths, reports=False)
    return paths
