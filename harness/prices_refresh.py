"""Refresh the pinned price snapshot: LiteLLM wheel from PyPI in, trimmed ``model_prices.json`` out.

Usage::

    python -m harness.prices_refresh [--litellm-version V] [--out PATH] [--wheel FILE]

Downloads the ``litellm`` wheel with pip (no dependencies), reads the price map the wheel ships
(``litellm/model_prices_and_context_window_backup.json``), keeps only chat and completion
models that have both an input and an output price, keeps only the fields ``harness.cost``
reads, and writes one model per line so that a refresh shows up as a readable diff. The
top-level ``_snapshot`` entry records where the data came from and its date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_LITELLM_VERSION = "1.108.0"
PRICE_MEMBER = "litellm/model_prices_and_context_window_backup.json"
DEFAULT_OUT = Path(__file__).parent / "data" / "model_prices.json"
KEPT_MODES = frozenset({"chat", "completion"})
KEPT_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "litellm_provider",
    "mode",
    "max_input_tokens",
    "max_output_tokens",
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def trim_prices(raw: Mapping[str, Any], snapshot: Mapping[str, str]) -> dict[str, Any]:
    """Keep priced chat/completion entries and the fields we use; ``_snapshot`` goes first."""
    trimmed: dict[str, Any] = {"_snapshot": dict(snapshot)}
    for name in sorted(raw):
        entry = raw[name]
        if name == "sample_spec" or not isinstance(entry, Mapping):
            continue
        if entry.get("mode") not in KEPT_MODES:
            continue
        if not (
            _is_number(entry.get("input_cost_per_token"))
            and _is_number(entry.get("output_cost_per_token"))
        ):
            continue
        trimmed[name] = {key: entry[key] for key in KEPT_FIELDS if key in entry}
    return trimmed


def dumps_snapshot(trimmed: Mapping[str, Any]) -> str:
    """JSON text with one entry per line (small, diff-friendly, still plain JSON)."""
    lines = [
        f"{json.dumps(name)}: {json.dumps(value, sort_keys=True)}"
        for name, value in trimmed.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def read_wheel(wheel: Path) -> tuple[dict[str, Any], str]:
    """The price map inside a litellm wheel and the date of that file (YYYY-MM-DD)."""
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(PRICE_MEMBER)
        raw = json.loads(archive.read(info))
    year, month, day = info.date_time[:3]
    return raw, f"{year:04d}-{month:02d}-{day:02d}"


def download_wheel(version: str, into: Path) -> Path:
    """Fetch the litellm wheel of ``version`` with pip (the ordinary PyPI client)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"litellm=={version}",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(into),
    ]
    subprocess.run(command, check=True)
    wheels = sorted(into.glob(f"litellm-{version}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip did not leave a litellm {version} wheel in {into}")
    return wheels[0]


def refresh(version: str, out: Path, wheel: Path | None = None) -> int:
    """Write the trimmed snapshot to ``out``; returns the number of priced models."""
    with tempfile.TemporaryDirectory(prefix="tokenstorm-prices-") as tmp:
        source = wheel if wheel is not None else download_wheel(version, Path(tmp))
        raw, file_date = read_wheel(source)
    snapshot = {
        "source": f"litellm=={version} ({PRICE_MEMBER})",
        "litellm_version": version,
        "date": file_date,
        "retrieved": dt.date.today().isoformat(),
        "units": "USD per token",
    }
    trimmed = trim_prices(raw, snapshot)
    out.write_text(dumps_snapshot(trimmed), encoding="utf-8")
    return len(trimmed) - 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.prices_refresh",
        description="Refresh the pinned LiteLLM price snapshot.",
    )
    parser.add_argument("--litellm-version", default=DEFAULT_LITELLM_VERSION)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--wheel",
        type=Path,
        default=None,
        help="use an already downloaded litellm wheel instead of pip",
    )
    args = parser.parse_args(argv)
    try:
        count = refresh(args.litellm_version, args.out, args.wheel)
    except (subprocess.CalledProcessError, FileNotFoundError, KeyError, zipfile.BadZipFile) as exc:
        print(f"prices_refresh: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} model prices from litellm {args.litellm_version} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
