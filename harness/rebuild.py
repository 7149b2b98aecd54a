"""Rebuild a run's summary and reports from its files: manifest, plan, records and ledger in,
summary.json, report.html and report.md out (and projection.json when the scenario has a
``[projection]``). Works on a run that was killed mid-way (its records end early, perhaps
mid-line; its manifest lacks the end-of-run figures)."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from pydantic import ValidationError

from harness.capacity.document import Replica, projection_document
from harness.capacity.from_run import costs_of_run
from harness.capacity.replica import engine_figures, gpus_in_name
from harness.contract.capacity import Projection
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
from harness.stats.run_data import RunData
from harness.stats.soak import soak_of_records
from harness.stats.soak_columns import soak_of_database
from harness.store.chunks import has_records, read_records
from harness.store.ledger_copy import write_ledger_copy
from harness.store.query import MEMORY_LIMIT, count_attempts, run_database
from harness.store.sample import sample_records
from harness.store.summary import summarize_database
from harness.store.windows import window_figures_of_database
from harness.watch.leak import watch_summary
from harness.watch.scrape import WATCH_FILE, read_watch
from workloads.scenario import Scenario, describe_scenario_error


class RebuildError(ValueError):
    """The run directory cannot be summarised; ``str()`` is one line naming the file."""


#: Above this many attempt records a run is summarised from its files by DuckDB in bounded
#: memory (``harness.store.summary``) instead of in memory (about 20 KB an attempt).
STREAMED_ABOVE_ATTEMPTS = 100_000
#: How many attempts the charts of such a run are drawn from (a systematic sample).
CHART_SAMPLE_ATTEMPTS = 20_000

#: Seed of the projection's bootstrap, so a run always projects the same interval.
PROJECTION_SEED = 0x9A0


def _profile_engine(name: str) -> tuple[dict[str, Any], str]:
    """A mock profile's ``[engine]`` table: a shipped profile's name or a TOML path."""
    path = Path(name)
    shipped = resources.files("mock_models").joinpath("profiles", f"{name}.toml")
    try:
        text = (path if path.suffix == ".toml" else shipped).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"replica_profile {name!r}: cannot read it ({exc})") from None
    engine = data.get("engine")
    if not isinstance(engine, dict):
        raise ValueError(f"replica_profile {name!r}: has no [engine] table to model a replica")
    return engine, path.stem


def replica_of(settings: Projection) -> Replica | None:
    """The self-hosted replica ``settings`` name (``ValueError``, one line, if unusable)."""
    gpus = settings.gpus_per_replica
    if settings.replica_rps is not None:
        return Replica(f"{settings.replica_rps:g} req/s as given", gpus or 1, settings.replica_rps)
    if settings.replica_profile is not None:
        engine, stem = _profile_engine(settings.replica_profile)
        return Replica(
            f"mock profile {stem}",
            gpus or gpus_in_name(stem) or 1,
            engine=engine_figures(engine),
        )
    if settings.replica_run is None:
        return None
    folder = Path(settings.replica_run)
    try:
        sweep = folder / "sweep.json"
        if sweep.exists():
            result = json.loads(sweep.read_text(encoding="utf-8")).get("result") or {}
            rps = result.get("max_rps_meeting_slo")
            return Replica(f"sweep {folder.name}: highest load meeting its SLO", gpus or 1, rps)
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"replica_run {folder}: not a run or sweep directory ({exc})") from None
    ok, duration_s = summary.get("requests_ok"), summary.get("duration_s")
    rps = ok / duration_s if isinstance(ok, int) and duration_s else None
    return Replica(f"run {folder.name}: answers per second it carried", gpus or 1, rps)


def project_run(run: RunData, settings: Projection) -> dict[str, Any]:
    """The ``projection.json`` document of a run (``ValueError``, one line, if impossible)."""
    return projection_document(
        costs_of_run(run),
        settings,
        run.label,
        np.random.default_rng(PROJECTION_SEED),
        replica_of(settings),
    )


def _scenario(paths: RunPaths, manifest: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(manifest["scenario"])
    except KeyError:
        raise RebuildError(f"{paths.manifest}: has no 'scenario' entry") from None
    except ValidationError as exc:
        raise RebuildError(describe_scenario_error(f"{paths.manifest} scenario", exc)) from None


def _run_notes(
    summary: dict[str, Any], manifest: dict[str, Any], scenario: Scenario, planned: int
) -> None:
    """Facts about how the run went (not reasons to distrust its figures): ``notes``."""
    notes: list[str] = summary.setdefault("notes", [])
    if manifest.get("interrupted"):
        notes.append("the run was stopped before its planned end (Ctrl-C or SIGTERM)")
    if "finished_at" not in manifest:
        notes.append("the run did not finish (killed?): figures cover the records written")
    wanted = scenario.arrival.requests
    if wanted is not None and planned < wanted:
        notes.append(
            f"the plan holds {planned} requests, fewer than [arrival] requests = {wanted}: "
            "the duration or the trace ended first"
        )
    for key in ("store_error", "ledger_error", "ledger_note", "pool_warning"):
        if manifest.get(key):
            notes.append(str(manifest[key]))


def _watch(paths: RunPaths, summary: dict[str, Any]) -> None:
    """``--watch``: the system under test's metrics, and a leak verdict (``watch``)."""
    watched = paths.root / WATCH_FILE
    if watched.exists():
        summary["watch"] = watch_summary(read_watch(watched))


def _inputs(
    paths: RunPaths, manifest: dict[str, Any], scenario: Scenario, **files: Any
) -> SummaryInputs:
    pool = manifest.get("pool")
    pool = pool if isinstance(pool, dict) else {}
    try:
        prices = load_price_book(scenario.prices)
    except ValueError as exc:
        raise RebuildError(f"{paths.manifest} scenario.prices: {exc}") from None
    return SummaryInputs(
        run_id=str(manifest.get("run_id", paths.root.name)),
        duration_s=scenario.duration,
        prices=prices,
        slo=scenario.slo,
        client_cpu_s=manifest.get("client_cpu_s"),
        wall_s=manifest.get("wall_s"),
        ledger_url=manifest.get("ledger_url"),
        ledger_origin=str(
            manifest.get("ledger_origin")
            or ("embedded" if manifest.get("embedded_mock") else "unknown")
        ),
        pool_waits=pool.get("attempts_waited_for_pool"),
        max_connections=pool.get("max_connections"),
        tokenizer=str(manifest.get("tokenizer") or "mock"),
        concurrency=scenario.arrival.concurrency,
        cache_similarity_threshold=scenario.target.cache_similarity_threshold,
        **files,
    )


def _left_out_of_large(scenario: Scenario) -> list[str]:
    """What ``rebuild_run`` adds to a run's summary in memory but not to a large run's."""
    left_out: list[str] = []
    if scenario.projection is not None:
        left_out.append("the cost projection (projection.json)")
    return left_out


def _chart_every(attempts: int) -> int:
    """A large run's charts are drawn from about one attempt in this many."""
    return -(-attempts // CHART_SAMPLE_ATTEMPTS)


def chart_records(paths: RunPaths) -> list[AttemptRecord]:
    """The attempts the report charts of a run too large for memory are drawn from (the
    sample ``rebuild_run`` draws them from), for reports rewritten after the run's summary
    (``RebuildError``, one line, when its files cannot be read)."""
    try:
        with run_database(paths) as con:
            return sample_records(con, _chart_every(count_attempts(paths)))
    except (RecordFileError, OSError, duckdb.Error) as exc:
        raise RebuildError(f"{paths.root}: cannot sample its records ({exc})") from None


def _rebuild_large(
    paths: RunPaths,
    manifest: dict[str, Any],
    scenario: Scenario,
    attempts: int,
    *,
    reports: bool,
) -> dict[str, Any]:
    """``rebuild_run`` for a run too large to hold in memory (see ``harness.store.summary``);
    the report's charts are drawn from a systematic sample of its attempts."""
    inputs = _inputs(paths, manifest, scenario, plan=(), records=(), ledger=None)
    every = _chart_every(attempts)
    # A run made before ledger copies existed gets one now, for this and later reads.
    write_ledger_copy(paths, MEMORY_LIMIT)
    try:
        with run_database(paths) as con:
            summary = summarize_database(con, inputs, attempts)
            sample = sample_records(con, every)
            soak = soak_of_database(con, scenario.duration, inputs.prices)
            profile = manifest.get("fault_profile")
            windows = windows_from_profile(profile) if isinstance(profile, dict) else []
            if windows:
                announced = bool(manifest.get("run_start_announced"))
                summary["fault_windows"] = window_figures_of_database(con, windows, announced)
    except (RecordFileError, OSError, duckdb.Error) as exc:
        # DuckDB's messages go on to quote the query: its first line names the file and fault.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RebuildError(f"{paths.root}: cannot summarise its files ({reason})") from None
    _run_notes(summary, manifest, scenario, int(summary["requests_planned"]))
    _watch(paths, summary)
    summary["soak"] = soak
    left_out = _left_out_of_large(scenario)
    if left_out:
        summary["notes"].append(f"not computed at this size yet: {' and '.join(left_out)}")
    summary["notes"].append(
        f"the report's charts are drawn from about one attempt in every {every} "
        f"({len(sample):,} of {attempts:,}); counts in them are of that sample"
    )
    paths.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if reports:
        from harness.report import write_reports

        write_reports(paths.root, summary, sample, manifest)
    return summary


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
    attempts = count_attempts(paths)
    if attempts > STREAMED_ABOVE_ATTEMPTS:
        return _rebuild_large(paths, manifest, scenario, attempts, reports=reports)
    try:
        plan = list(read_jsonl(paths.plan, PlannedRequest)) if paths.plan.exists() else []
        records = read_records(paths.records) if has_records(paths.records) else []
        ledger = list(read_jsonl(paths.ledger, LedgerEntry)) if paths.ledger.exists() else None
    except RecordFileError as exc:
        raise RebuildError(str(exc)) from None
    inputs = _inputs(paths, manifest, scenario, plan=plan, records=records, ledger=ledger)
    summary = summarize(inputs)
    _run_notes(summary, manifest, scenario, len(plan))
    _watch(paths, summary)
    profile = manifest.get("fault_profile")
    if isinstance(profile, dict):
        windows = windows_from_profile(profile)
        if windows:
            summary["fault_windows"] = window_figures(
                records, windows, bool(manifest.get("run_start_announced"))
            )
    summary["soak"] = soak_of_records(records, scenario.duration, inputs.prices)
    if scenario.projection is not None:
        ledger_lines = None if ledger is None else tuple(ledger)
        run = RunData(
            str(summary["run_id"]), summary, manifest, tuple(plan), tuple(records), ledger_lines
        )
        try:
            document = project_run(run, scenario.projection)
            (paths.root / "projection.json").write_text(
                json.dumps(document, indent=2) + "\n", encoding="utf-8"
            )
        except ValueError as exc:
            summary["notes"].append(f"no cost projection: {exc}")
    paths.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if reports:
        from harness.report import write_reports

        write_reports(paths.root, summary, records, manifest)
    return summary
