"""Rebuild a run's summary and reports from its files: manifest, plan, records and ledger in,
summary.json, report.html and report.md out. Works on a run that was killed mid-way (its
records end early, perhaps mid-line; its manifest lacks the end-of-run figures)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from harness.contract.records import (
    AttemptRecord,
    LedgerEntry,
    PlannedRequest,
    RecordFileError,
    read_jsonl,
)
from harness.cost import load_price_book
from harness.metrics.summary import SummaryInputs, summarize
from harness.metrics.windows import window_figures, windows_from_profile
from harness.run_dir import RunPaths, read_manifest
from workloads.scenario import Scenario, describe_scenario_error


class RebuildError(ValueError):
    """The run directory cannot be summarised; ``str()`` is one line naming the file."""


def _scenario(paths: RunPaths, manifest: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(manifest["scenario"])
    except KeyError:
        raise RebuildError(f"{paths.manifest}: has no 'scenario' entry") from None
    except ValidationError as exc:
        raise RebuildError(describe_scenario_error(f"{paths.manifest} scenario", exc)) from None


def rebuild_run(paths: RunPaths, *, reports: bool = True) -> dict[str, Any]:
    """Summarise the run in ``paths`` into summary.json and, unless ``reports`` is false, write
    report.html and report.md (which import jinja2 and matplotlib); return the summary."""
    if not paths.root.is_dir():
        raise RebuildError(f"{paths.root}: no such run directory")
    try:
        manifest = read_manifest(paths)
    except FileNotFoundError:
        raise RebuildError(f"{paths.manifest}: missing; is {paths.root} a run directory?") from None
    except json.JSONDecodeError as exc:
        raise RebuildError(f"{paths.manifest}: not valid JSON ({exc})") from None
    scenario = _scenario(paths, manifest)
    try:
        plan = list(read_jsonl(paths.plan, PlannedRequest)) if paths.plan.exists() else []
        records = list(read_jsonl(paths.records, AttemptRecord)) if paths.records.exists() else []
        ledger = list(read_jsonl(paths.ledger, LedgerEntry)) if paths.ledger.exists() else None
    except RecordFileError as exc:
        raise RebuildError(str(exc)) from None
    try:
        prices = load_price_book(scenario.prices)
    except ValueError as exc:
        raise RebuildError(f"{paths.manifest} scenario.prices: {exc}") from None
    summary = summarize(
        SummaryInputs(
            run_id=str(manifest.get("run_id", paths.root.name)),
            duration_s=scenario.duration,
            plan=plan,
            records=records,
            ledger=ledger,
            prices=prices,
            slo=scenario.slo,
            client_cpu_s=manifest.get("client_cpu_s"),
            wall_s=manifest.get("wall_s"),
            ledger_url=manifest.get("ledger_url"),
            ledger_origin=str(
                manifest.get("ledger_origin")
                or ("embedded" if manifest.get("embedded_mock") else "unknown")
            ),
            concurrency=scenario.arrival.concurrency,
        )
    )
    # Facts about how the run went (not reasons to distrust its figures): "notes".
    notes: list[str] = summary.setdefault("notes", [])
    if manifest.get("interrupted"):
        notes.append("the run was stopped before its planned end (Ctrl-C or SIGTERM)")
    if "finished_at" not in manifest:
        notes.append("the run did not finish (killed?): figures cover the records written")
    wanted = scenario.arrival.requests
    if wanted is not None and len(plan) < wanted:
        notes.append(
            f"the plan holds {len(plan)} requests, fewer than [arrival] requests = {wanted}: "
            "the duration or the trace ended first"
        )
    for key in ("ledger_error", "ledger_note"):
        if manifest.get(key):
            notes.append(str(manifest[key]))
    profile = manifest.get("fault_profile")
    if isinstance(profile, dict):
        windows = windows_from_profile(profile)
        if windows:
            summary["fault_windows"] = window_figures(records, windows)
    paths.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if reports:
        from harness.report import write_reports

        write_reports(paths.root, summary, records, manifest)
    return summary
