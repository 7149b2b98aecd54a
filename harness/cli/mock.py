"""``tokenstorm mock``: serve the mock model server in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from faults.profile import ProfileError, load_profile
from harness.cli.errors import UserError
from harness.cli.fault_flag import add_fault_flag, add_fault_rules
from harness.contract.config_errors import describe_validation_error
from mock_models import __main__ as mock_main
from mock_models.settings import MockSettings, constant_settings


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "mock",
        help="serve the mock model server (OpenAI- and Anthropic-compatible)",
        description="Serve the mock model server. By default: two deployments, mock-small and "
        "mock-large, no faults. --ttft-ms/--itl-ms/--output-tokens give one "
        "constant-latency deployment that answers any model name; --faults and --fault "
        "add faults to either.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any)")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML: mock settings, or a scenario whose [mock] section is used",
    )
    parser.add_argument(
        "--faults",
        metavar="PROFILE",
        help="a fault profile: a shipped name (demo, brownout, flaky, ...) or a TOML path",
    )
    add_fault_flag(parser)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--ttft-ms", type=float, help="constant time to first token")
    parser.add_argument("--itl-ms", type=float, help="constant time between tokens")
    parser.add_argument("--output-tokens", type=int, help="constant output length")
    parser.add_argument("--ledger-file", metavar="PATH", help="also append the ledger here")
    parser.add_argument(
        "--workers",
        metavar="N",
        help="processes sharing the port, each a full replica (auto: one per core; default 1)",
    )
    parser.set_defaults(handler=handle)


def _read_toml(path: str, flag: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{flag} {path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{flag} {path}: cannot read TOML ({exc})") from None


def _validation(source: str, exc: ValidationError) -> UserError:
    return UserError(describe_validation_error(source, exc))


def _faults(name_or_path: str) -> dict[str, Any]:
    """Settings fields for ``--faults``: a fault profile, by shipped name or TOML path."""
    try:
        return {"faults": load_profile(name_or_path)}
    except ProfileError as exc:
        raise UserError(f"--faults {exc}") from None


def settings_from_args(args: argparse.Namespace) -> MockSettings:
    quick = (args.ttft_ms, args.itl_ms, args.output_tokens)
    if any(value is not None for value in quick):
        if args.config:
            raise UserError(
                "--ttft-ms/--itl-ms/--output-tokens make a constant deployment: "
                "do not combine them with --config (faults: --faults or --fault)"
            )
        ttft_ms, itl_ms, tokens = (
            args.ttft_ms or 0.0,
            args.itl_ms or 0.0,
            args.output_tokens or 16,
        )
        if ttft_ms < 0 or itl_ms < 0 or tokens < 1:
            raise UserError("--ttft-ms and --itl-ms must be >= 0, --output-tokens >= 1")
        settings = constant_settings(ttft_ms, itl_ms, tokens, seed=args.seed or 0)
        base = _faults(args.faults)["faults"] if args.faults else None
        return settings.model_copy(update={"faults": add_fault_rules(base, args)})
    data: dict[str, Any] = {}
    if args.config:
        raw = _read_toml(args.config, "--config")
        data = raw.get("mock", raw) if "workload" in raw or "mock" in raw else raw
    if args.faults:
        data = {**data, **_faults(args.faults)}
    if args.seed is not None:
        data = {**data, "seed": args.seed}
    try:
        settings = MockSettings.model_validate(data)
    except ValidationError as exc:
        raise _validation(f"--config {args.config}", exc) from None
    if not getattr(args, "fault", None):
        return settings
    return settings.model_copy(update={"faults": add_fault_rules(settings.faults, args)})


def handle(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    argv = [
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--config-json",
        settings.model_dump_json(),
    ]
    if args.ledger_file:
        argv += ["--ledger-file", args.ledger_file]
    if args.workers:
        argv += ["--workers", args.workers]
    return mock_main.main(argv)
