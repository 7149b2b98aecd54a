"""The run directory: its file names, run ids, and the manifest that anchors a run in time.

``results/<run_id>/`` holds manifest.json, plan.jsonl, records.jsonl, ledger.jsonl,
summary.json, report.html and report.md. The manifest is written before the first request
is sent, so a killed run still says what it was.
"""

from __future__ import annotations

import json
import platform
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MANIFEST_SCHEMA = "tokenstorm.manifest/1"


@dataclass(frozen=True, slots=True)
class RunPaths:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def plan(self) -> Path:
        return self.root / "plan.jsonl"

    @property
    def records(self) -> Path:
        return self.root / "records.jsonl"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"


def new_run_id(name: str, now: datetime) -> str:
    """``20261125-174012-demo-3fa2``: sortable, readable, unique enough per machine."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:40] or "run"
    return f"{now:%Y%m%d-%H%M%S}-{slug}-{secrets.token_hex(2)}"


def valid_run_id(run_id: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id))


def redact_url(url: str | None) -> str | None:
    """Drop credentials a URL may carry (user:password@, query strings) before it is written."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": sys.platform}
    for package in ("tokenstorm", "aiohttp", "numpy", "pydantic"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def write_manifest(paths: RunPaths, manifest: dict[str, Any]) -> None:
    document = {"schema": MANIFEST_SCHEMA, **manifest}
    paths.manifest.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


def read_manifest(paths: RunPaths) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(paths.manifest.read_text())
    return document


def started_at(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
