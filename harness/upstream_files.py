"""What a run checks, tells and reads back from its upstream: that the target answers at all
before it starts; then, from a tokenstorm mock or proxy, its start as it begins
(``/tokenstorm/runs``), and once it has sent, its ledger lines and active fault profile
(``/tokenstorm/ledger`` and ``/tokenstorm/faults``) into the run's files and manifest; the
caller decides whether the upstream is one to ask."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from harness.api.run_start import RUNS_ROUTE, run_start_body
from harness.contract.records import LedgerEntry, from_dict, write_jsonl
from harness.run_dir import RunPaths, redact_url


class RunError(RuntimeError):
    """A run could not start or finish; ``str()`` is one line for the user."""


def check_reachable(url: str, timeout_s: float) -> None:
    """Raise ``RunError`` unless a TCP connection to the target's host and port opens."""
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


class LedgerError(RuntimeError):
    """The ledger could not be read; ``str()`` is one line for the user."""


def guess_ledger(api_url: str) -> str:
    """Where a tokenstorm mock or proxy at ``api_url`` serves its ledger."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/tokenstorm/ledger"


async def announce_start(
    ledger_url: str,
    run_id: str,
    started: asyncio.Event,
    clock_s: Callable[[], float],
    timeout_s: float = 2.0,
) -> bool:
    """Once ``started`` is set, tell the upstream serving this ledger what the run clock
    (``clock_s``) reads, so it times fault windows on the run's clock rather than from the
    first request it gets (behind a gateway that may come late); True when it took it."""
    import aiohttp

    url = ledger_url.removesuffix("/ledger").removesuffix("/tokenstorm") + RUNS_ROUTE
    await started.wait()
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            body = run_start_body(run_id, clock_s())
            async with session.post(url, data=body) as response:
                return response.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


def announce_start_now(
    ledger_url: str, run_id: str, clock_s: float, timeout_s: float = 2.0
) -> bool:
    """``announce_start`` from code that is not on an asyncio loop (the Locust master): tell
    the upstream that the run clock reads ``clock_s`` now; True when it took it."""
    import httpx

    url = ledger_url.removesuffix("/ledger").removesuffix("/tokenstorm") + RUNS_ROUTE
    try:
        response = httpx.post(url, content=run_start_body(run_id, clock_s), timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


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
    says so. Raises ``LedgerError`` with a one-line reason when the ledger cannot be read.
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
        raise LedgerError(
            f"could not fetch the ledger from {redact_url(ledger_url)}: {exc}"
        ) from None
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise LedgerError(
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


def read_back(
    paths: RunPaths,
    manifest: dict[str, Any],
    ledger_url: str,
    run_id: str,
    *,
    origin: str,
    guessed: bool,
) -> None:
    """Write the run's ledger lines and note the fault profile in ``manifest``.

    ``origin`` says where the URL came from (``LEDGER_ORIGINS``); a ``guessed`` URL (the
    target answered as a tokenstorm mock or proxy) that yields nothing is no error.
    """
    try:
        entries, note = fetch_ledger(ledger_url, run_id)
        if entries or not guessed:
            write_jsonl(paths.ledger, entries)
            manifest["ledger_url"] = redact_url(ledger_url)
            manifest["ledger_origin"] = origin
            if note:
                manifest["ledger_note"] = note
    except LedgerError as exc:
        if not guessed:
            manifest["ledger_error"] = str(exc)
    profile = fetch_fault_profile(ledger_url)
    if profile is not None:
        manifest["fault_profile"] = profile
