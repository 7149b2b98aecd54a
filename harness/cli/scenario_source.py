"""Where a verb's scenario comes from: a file, the built-in demo, or quick flags alone;
quick flags (``--target``, ``--rate``, ...) then override what the scenario says."""

from __future__ import annotations

import argparse
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from harness.cli.errors import UserError
from harness.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

DEMO_SOURCE = "built-in demo scenario"


def demo_scenario_text() -> str:
    return resources.files("harness").joinpath("data/demo.toml").read_text(encoding="utf-8")


def _quick_base() -> dict[str, Any]:
    """A scenario for ``--target`` with no file: one stream of single requests."""
    return {"name": "quick", "duration": "30s",
            "workload": [{"kind": "stream", "tags": {"workload": "quick"}}]}


def add_quick_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="URL",
                        help="OpenAI/Anthropic-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="model name to request (overrides the scenario's)")
    parser.add_argument("--api", choices=["openai-chat", "anthropic-messages"])
    parser.add_argument("--rate", metavar="RPS", help="session arrival rate, e.g. 5 or '300/m'")
    parser.add_argument("--duration", metavar="S", help="run length, e.g. 30s, 5m")
    parser.add_argument("--seed", type=int)


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
    elif getattr(args, "target", None):
        source, data = "quick flags", _quick_base()
    else:
        source, data = DEMO_SOURCE, tomllib.loads(demo_scenario_text())
    data = _override(data, args)
    try:
        return parse_scenario(data, source), source
    except ScenarioError as exc:
        raise UserError(f"{exc} (after applying command-line flags)") from None


def _override(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    data = dict(data)
    target = dict(data.get("target", {}))
    if getattr(args, "target", None):
        target["url"] = args.target
    if getattr(args, "api", None):
        target["api"] = args.api
    if getattr(args, "model", None):
        target["model"] = args.model
        data["workload"] = [{**w, "model": None} if isinstance(w, dict) else w
                            for w in data.get("workload", [])]
        data["workload"] = [{k: v for k, v in w.items() if v is not None}
                            if isinstance(w, dict) else w for w in data["workload"]]
    data["target"] = target
    if getattr(args, "rate", None):
        data["arrival"] = {**data.get("arrival", {}), "rate": args.rate}
    if getattr(args, "duration", None):
        data["duration"] = args.duration
    if getattr(args, "seed", None) is not None:
        data["seed"] = args.seed
    return data
