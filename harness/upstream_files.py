"""What a run checks, tells and reads back from its upstream: that the target answers at all
before it starts; then, from a tokenstorm mock or proxy, its start as it begins
(``/tokenstorm/runs``), and once it has sent, its ledger lines and active fault profile
(``/tokenstorm/ledger`` and ``/tokenstorm/faults``) into the run's files and manifest; the
caller decides whether the upstream is one to ask."""

from __future__ import annotations

import asyncio
import socket
import typing
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

import orjson

from harness.api.run_start import RUNS_ROUTE, run_start_body
from harness.contract.records import LedgerEntry, from_dict, to_json_line
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


#: Longest a ledger line may be (one is about 1 KB): past it the stream is no ledger, and the
#: copy stops rather than hold a line that does not end.
MAX_LINE_BYTES: Final = 1 << 20
#: The files a copy of the ledger is written to before it is complete, by what they keep.
_PARTS: Final = ("ours", "untagged")


def _json_types(hint: Any) -> tuple[type, ...]:
    """The JSON values a field of type ``hint`` takes (a float field takes an integer too)."""
    kinds = tuple(typing.get_args(hint)) or (hint,)
    return tuple({*kinds, int} if float in kinds else kinds)


#: Each ledger field and the types its value may have in a line.
_FIELD_TYPES: Final = {
    name: _json_types(hint) for name, hint in typing.get_type_hints(LedgerEntry).items()
}


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


class _LedgerCopy:
    """The lines of a streamed ledger, checked one by one as they arrive, written as they
    come: those of the run to ``ours``, those without any run id to ``untagged`` (only while
    no line of the run has come: they count only when none does). Holds one partial line."""

    def __init__(self, run_id: str, where: str, ours: IO[bytes], untagged: IO[bytes]) -> None:
        self._run_id = run_id
        self.where = where
        self._files = (ours, untagged)
        self._rest = b""
        self.line_number = 0
        self.ours = self.untagged = 0

    def feed(self, data: bytes) -> None:
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self._take(line)
        if len(self._rest) > MAX_LINE_BYTES:
            raise LedgerError(
                f"line {self.line_number + 1} of the ledger at {self.where} runs past "
                f"{MAX_LINE_BYTES} bytes: not a ledger line"
            )

    def finish(self) -> None:
        if self._rest.strip():
            raise LedgerError(
                f"the ledger at {self.where} ended in the middle of line {self.line_number + 1}"
            )

    def _take(self, line: bytes) -> None:
        self.line_number += 1
        if not line.strip():
            return
        try:
            raw = orjson.loads(line)
            if not isinstance(raw, dict):
                raise TypeError(f"a JSON {type(raw).__name__}, not an object")
            entry = from_dict(LedgerEntry, raw)
            for name, kinds in _FIELD_TYPES.items():
                if not isinstance(getattr(entry, name), kinds):
                    raise TypeError(f"{name} is {orjson.dumps(getattr(entry, name)).decode()}")
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise LedgerError(
                f"line {self.line_number} of the ledger at {self.where} is not a ledger line "
                f"({exc})"
            ) from None
        if entry.run_id == self._run_id:
            self._files[0].write(to_json_line(entry))
            self.ours += 1
        elif entry.run_id is None and not self.ours:
            self._files[1].write(to_json_line(entry))
            self.untagged += 1


def _copy_stream(
    copy: _LedgerCopy, ledger_url: str, read_timeout_s: float, connect_timeout_s: float
) -> None:
    """Feed ``copy`` the body of ``GET ledger_url`` as it arrives; ``LedgerError`` when the
    upstream cannot be reached, answers other than 200, stops sending for ``read_timeout_s``
    (between any two reads: a long ledger may take as long as it needs) or cuts it short."""
    import httpx

    where = copy.where
    timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
    try:
        with httpx.stream("GET", ledger_url, timeout=timeout) as response:
            if response.status_code != 200:
                raise LedgerError(
                    f"could not fetch the ledger from {where}: it answered "
                    f"{response.status_code} {response.reason_phrase}".rstrip()
                )
            for data in response.iter_bytes():
                copy.feed(data)
    except httpx.ConnectTimeout:
        raise LedgerError(
            f"could not fetch the ledger from {where}: no connection within {connect_timeout_s:g} s"
        ) from None
    except httpx.TimeoutException:
        raise LedgerError(
            f"the ledger at {where} sent nothing for {read_timeout_s:g} s "
            f"(after {copy.line_number} lines); is the upstream stuck?"
        ) from None
    except httpx.HTTPError as exc:
        reason = str(exc).strip().splitlines()[:1] or [type(exc).__name__]
        raise LedgerError(f"could not fetch the ledger from {where}: {reason[0]}") from None
    copy.finish()


def fetch_ledger(
    ledger_url: str,
    run_id: str,
    destination: Path,
    read_timeout_s: float = 15.0,
    connect_timeout_s: float = 5.0,
) -> tuple[int, str | None]:
    """Copy the upstream's ledger lines for this run to ``destination`` as they arrive, in
    the memory of one piece of the stream; returns how many lines and a note on how they
    were matched. No file is left when there are none.

    Lines carrying this run's id are kept. When none does (a gateway in between dropped the
    ``x-tokenstorm-*`` headers), the lines without any run id are kept instead, and the note
    says so. Each line is checked as it comes. Raises ``LedgerError`` with a one-line reason
    (and leaves no file) when the ledger cannot be read: the upstream sends nothing for
    ``read_timeout_s``, cuts the stream short or sends a line that is not a ledger line.
    """
    parts = {kind: destination.with_name(f".{destination.name}.{kind}") for kind in _PARTS}
    try:
        with parts["ours"].open("wb") as ours, parts["untagged"].open("wb") as untagged:
            copy = _LedgerCopy(run_id, str(redact_url(ledger_url)), ours, untagged)
            _copy_stream(copy, ledger_url, read_timeout_s, connect_timeout_s)
        kept = "ours" if copy.ours else "untagged" if copy.untagged else None
        if kept is not None:
            parts[kept].replace(destination)
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    if copy.ours:
        return copy.ours, None
    if copy.untagged:
        return copy.untagged, (
            f"no ledger line carried run id {run_id}; counted the "
            f"{copy.untagged} lines without a run id (headers dropped on the way?)"
        )
    return 0, None


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
        count, note = fetch_ledger(ledger_url, run_id, paths.ledger)
        if count or not guessed:
            if not count:
                paths.ledger.write_bytes(b"")
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
