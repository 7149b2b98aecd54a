"""How an attempt that broke below HTTP ended: the exception aiohttp raised and the phase the
attempt had reached in; one outcome of ``harness.contract.outcomes`` and a short detail out."""

from __future__ import annotations

import errno

import aiohttp

from harness.contract.outcomes import Outcome


class Phase:
    """Where an attempt is, so a timeout can be named for the phase it hit."""

    __slots__ = ("connected", "first_byte_s")

    def __init__(self) -> None:
        self.connected = False
        self.first_byte_s: float | None = None


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and the exceptions it carries in its args (aiohttp wraps
    the connection reset of a broken body inside a payload error's arguments)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 10:
        current = todo.pop()
        seen.append(current)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def transport_outcome(exc: BaseException, phase: Phase) -> tuple[Outcome, str]:
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Outcome.TIMEOUT_CONNECT, detail
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Outcome.CONNECT_ERROR, detail
    if any(
        isinstance(c, ConnectionResetError | BrokenPipeError)
        or (isinstance(c, OSError) and c.errno in (errno.ECONNRESET, errno.EPIPE))
        for c in _causes(exc)
    ) or "Connection reset by peer" in str(exc):
        # aiohttp reports a reset inside a broken body only in the payload error's message.
        return Outcome.RESET, detail
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Outcome.STREAM_CUT, detail
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return (Outcome.STREAM_CUT if phase.first_byte_s is not None else Outcome.RESET), detail
    if isinstance(exc, aiohttp.ClientResponseError):
        return Outcome.PROTOCOL_ERROR, detail
    if isinstance(exc, aiohttp.ClientOSError):
        return (Outcome.RESET if phase.connected else Outcome.CONNECT_ERROR), detail
    return Outcome.PROTOCOL_ERROR, detail


def socket_outcome(exc: OSError, phase: Phase) -> tuple[Outcome, str]:
    """How an attempt on a plain (gevent) socket broke: the same outcomes the aiohttp path
    gives for the same event on the wire (refused/unresolvable before connecting: connect
    error; a reset or broken pipe: reset; the peer closing mid-body: stream cut)."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if not phase.connected:
        return Outcome.CONNECT_ERROR, detail
    if isinstance(exc, ConnectionResetError | BrokenPipeError) or exc.errno in (
        errno.ECONNRESET,
        errno.EPIPE,
    ):
        return Outcome.RESET, detail
    return (Outcome.STREAM_CUT if phase.first_byte_s is not None else Outcome.RESET), detail
