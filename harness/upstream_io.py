"""The runner's exchanges with the upstream outside the measured traffic: a target URL in, a
reachability check out; a ledger URL and run id in, the upstream's ledger lines for that run
and its fault profile out. ``RunError`` carries every failure as one line for the user."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import orjson

from harness.contract.records import LedgerEntry, from_dict
from harness.run_dir import redact_url


class RunError(RuntimeError):
    """A run could not start or finish; ``str()`` is one line for the user."""


def check_reachable(url: str, timeout_s: float) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RunError(
            f"target {redact_url(url)} is unreachable ({reason}); start it, fix --target, "
            "or pass --no-preflight to record the failures anyway"
        ) from None


def fetch_fault_profile(ledger_url: str, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The fault profile active at the upstream that serves this ledger (a tokenstorm mock or
    proxy serves it at /tokenstorm/faults), or None when there is none to be had."""
    import httpx  # not needed before the first request

    url = ledger_url.removesuffix("/ledger") + "/faults"
    try:
        response = httpx.get(url, timeout=timeout_s)
        if response.status_code != 200:
            return None
        document = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return document if isinstance(document, dict) and "rule" in document else None


def fetch_ledger(
    ledger_url: str, run_id: str, timeout_s: float = 15.0
) -> tuple[list[LedgerEntry], str | None]:
    """The upstream's ledger lines for this run, and a note on how they were matched.

    Lines carrying this run's id are kept. When none does (a gateway in between dropped the
    ``x-tokenstorm-*`` headers), the lines without any run id are kept instead, and the note
    says so. Raises ``RunError`` with a one-line reason when the ledger cannot be read.
    """
    import httpx

    try:
        response = httpx.get(ledger_url, timeout=timeout_s)
        response.raise_for_status()
        entries = [
            from_dict(LedgerEntry, orjson.loads(line))
            for line in response.content.splitlines()
            if line.strip()
        ]
    except httpx.HTTPError as exc:
        raise RunError(f"could not fetch the ledger from {redact_url(ledger_url)}: {exc}") from None
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise RunError(
            f"the ledger at {redact_url(ledger_url)} is not valid JSON lines ({exc})"
        ) from None
    ours = [e for e in entries if e.run_id == run_id]
    if ours:
        return ours, None
    untagged = [e for e in entries if e.run_id is None]
    if untagged:
        return untagged, (
            f"no ledger line carried run id {run_id}; counted the "
            f"{len(untagged)} lines without a run id (headers dropped on the way?)"
        )
    return [], None


def guess_ledger(api_url: str) -> str:
    """Where a tokenstorm mock or proxy at ``api_url`` serves its ledger."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/tokenstorm/ledger"
