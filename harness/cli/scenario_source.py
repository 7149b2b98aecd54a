"""Where a verb's scenario comes from: a file, the built-in demo, or quick flags alone;
quick flags (``--target``, ``--rate``, ...) then override what the scenario says."""

from __future__ import annotations

import argparse
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from faults.profile import FaultProfile, ProfileError, load_profile, parse_profile
from faults.quick import with_flags
from harness.cli.errors import UserError
from harness.contract.apis import CLIENT_APIS
from workloads.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from workloads.traces import TraceError, load_trace, trace_span_s

DEMO_SOURCE = "built-in demo scenario"
#: A replay without an explicit duration runs until this long after the trace's last row.
TRACE_TAIL_S = 1.0


def demo_scenario_text() -> str:
    return resources.files("harness").joinpath("data/demo.toml").read_text(encoding="utf-8")


def _quick_base() -> dict[str, Any]:
    """A scenario for ``--target`` with no file: one stream of single requests."""
    return {
        "name": "quick",
        "duration": "30s",
        "workload": [{"kind": "stream", "tags": {"workload": "quick"}}],
    }


def add_quick_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        metavar="URL",
        help="OpenAI/Anthropic-compatible base URL, e.g. http://127.0.0.1:8000/v1",
    )
    parser.add_argument("--model", help="model name to request (overrides the scenario's)")
    parser.add_argument("--api", choices=list(CLIENT_APIS))
    parser.add_argument("--rate", metavar="RPS", help="session arrival rate, e.g. 5 or '300/m'")
    parser.add_argument("--duration", metavar="S", help="run length, e.g. 30s, 5m")
    parser.add_argument(
        "--requests",
        metavar="N",
        type=int,
        help="stop after N requests ([arrival] requests); without --duration the run lasts "
        "as long as they need, the scenario's duration aside",
    )
    parser.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        help="closed loop: keep N sessions in flight, a new one starting when one ends "
        "(replaces the scenario's arrival rate; queueing at the target then hides from the "
        "latencies)",
    )
    parser.add_argument("--seed", type=int)


def add_trace_flags(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help=f"{verb} a trace: every row becomes one request (Azure, BurstGPT, Mooncake, TraceLab)",
    )
    parser.add_argument(
        "--trace-format",
        metavar="FORMAT",
        choices=["auto", "azure", "burstgpt", "mooncake", "tracelab"],
        help="the trace's format (default: auto, from its first line)",
    )
    parser.add_argument(
        "--time-scale",
        metavar="X",
        type=float,
        help="play the trace X times faster (offsets divided by X)",
    )
    parser.add_argument(
        "--rate-scale",
        metavar="X",
        type=float,
        help="keep the trace's time axis, scale its request count by X",
    )
    parser.add_argument(
        "--trace-start",
        metavar="S",
        help="replay only rows from this long after the trace's first row, "
        "e.g. 10m (trace time, before --time-scale)",
    )
    parser.add_argument(
        "--trace-end",
        metavar="S",
        help="replay only rows before this long after the trace's first row, "
        "e.g. 20m (trace time, before --time-scale)",
    )


def resolve_scenario(path: str | None, args: argparse.Namespace) -> tuple[Scenario, str]:
    """The scenario a verb runs, and a name for its source (for error messages)."""
    if path is not None:
        source = path
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: no such scenario file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read scenario file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML ({exc})") from None
        try:
            load_scenario(Path(path))  # the file alone must be valid, flags aside
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
    elif getattr(args, "trace", None):
        source, data = f"trace {args.trace}", {"name": f"trace-{Path(args.trace).stem}"}
    elif getattr(args, "target", None):
        source, data = "quick flags", _quick_base()
    else:
        source, data = DEMO_SOURCE, tomllib.loads(demo_scenario_text())
    if path is not None:
        data = _trace_beside(data, Path(path).parent)
    data = _override_faults(_override_trace(_override(data, args), args), args)
    try:
        scenario = parse_scenario(data, source, Path(path).parent if path else None)
    except ScenarioError as exc:
        raise UserError(f"{exc} (after applying command-line flags)") from None
    return _fit_duration(scenario, "duration" in data), source


def _trace_beside(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A scenario's relative ``trace.path`` is relative to the scenario file."""
    trace = data.get("trace")
    if isinstance(trace, dict) and isinstance(trace.get("path"), str):
        if not Path(trace["path"]).is_absolute():
            return {**data, "trace": {**trace, "path": str(folder / trace["path"])}}
    return data


def _override_trace(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "path": getattr(args, "trace", None),
        "format": getattr(args, "trace_format", None),
        "time_scale": getattr(args, "time_scale", None),
        "rate_scale": getattr(args, "rate_scale", None),
        "start": getattr(args, "trace_start", None),
        "end": getattr(args, "trace_end", None),
    }
    given = {key: value for key, value in flags.items() if value is not None}
    if not given:
        return data
    if "path" not in given and not isinstance(data.get("trace"), dict):
        raise UserError(
            "--trace-format/--trace-start/--trace-end/--time-scale/--rate-scale "
            "need --trace FILE or a scenario with a [trace] section"
        )
    return {**data, "trace": {**data.get("trace", {}), **given}}


def _override_faults(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--fault`` rules join the embedded mock's profile (``[mock] faults``)."""
    flags = getattr(args, "fault", None) or []
    if not flags:
        return data
    if isinstance(data.get("target"), dict) and data["target"].get("url"):
        raise UserError(
            "--fault adds faults to the embedded mock, and this run has a target URL: put them "
            "on its upstream instead (tokenstorm mock --fault ... or tokenstorm proxy --fault ...)"
        )
    mock = dict(data.get("mock") or {})
    base: FaultProfile | None = None
    try:
        if isinstance(mock.get("faults"), str):
            base = load_profile(mock["faults"])
        elif isinstance(mock.get("faults"), dict):
            base = parse_profile(mock["faults"], "[mock] faults")
        merged = with_flags(base, flags)
    except ProfileError as exc:
        raise UserError(str(exc)) from None
    mock["faults"] = merged.model_dump(mode="json") if merged else None
    return {**data, "mock": mock}


def _fit_duration(scenario: Scenario, duration_given: bool) -> Scenario:
    """A replay with no duration given runs until ``TRACE_TAIL_S`` after its last row."""
    trace = scenario.trace
    if trace is None or duration_given:
        return scenario
    try:
        rows = load_trace(Path(trace.path), trace.format, trace.columns)
    except TraceError as exc:
        raise UserError(str(exc)) from None
    return scenario.model_copy(update={"duration": trace_span_s(rows, trace) + TRACE_TAIL_S})


def _override(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    data = dict(data)
    target = dict(data.get("target", {}))
    if getattr(args, "target", None):
        target["url"] = args.target
    if getattr(args, "api", None):
        target["api"] = args.api
    if getattr(args, "model", None):
        target["model"] = args.model
        data["workload"] = [
            {**w, "model": None} if isinstance(w, dict) else w for w in data.get("workload", [])
        ]
        data["workload"] = [
            {k: v for k, v in w.items() if v is not None} if isinstance(w, dict) else w
            for w in data["workload"]
        ]
    data["target"] = target
    concurrency = getattr(args, "concurrency", None)
    if concurrency is not None:
        if getattr(args, "rate", None):
            raise UserError("give --rate (open loop) or --concurrency (closed loop), not both")
        # The closed loop replaces the arrival process; only a request count carries over.
        kept = {k: v for k, v in data.get("arrival", {}).items() if k == "requests"}
        data["arrival"] = {**kept, "process": "concurrency", "concurrency": concurrency}
    if getattr(args, "rate", None):
        data["arrival"] = {**data.get("arrival", {}), "rate": args.rate}
    if getattr(args, "requests", None) is not None:
        data["arrival"] = {**data.get("arrival", {}), "requests": args.requests}
        if not getattr(args, "duration", None):
            data.pop("duration", None)  # N requests, however long they take
    if getattr(args, "duration", None):
        data["duration"] = args.duration
    if getattr(args, "seed", None) is not None:
        data["seed"] = args.seed
    return data
