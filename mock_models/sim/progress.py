"""How far one answer got: the status sent, the tokens generated, how late they went out and
whether the client left; filled in by the answer paths and the fault actions, read by the ledger."""

from __future__ import annotations

import asyncio

#: Status the ledger records when the client left before any status line was sent
#: (nginx's "client closed request").
CLIENT_CLOSED = 499


class Progress:
    """How far an answer got: the status sent, the tokens generated so far, and whether the
    client went away while it was being written."""

    __slots__ = (
        "cache_write_tokens",
        "cached_tokens",
        "disconnected",
        "first_token_s",
        "lag_s",
        "settled",
        "status",
        "tokens",
    )

    def __init__(self) -> None:
        self.status = CLIENT_CLOSED
        self.tokens = 0
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.disconnected = False
        self.first_token_s: float | None = None
        #: What the answer's tokens waited for the mock itself, on average per token
        #: (``WireSink.lag_s``; a body sent at once: how late it went out).
        self.lag_s = 0.0
        #: Set when generation goes on after the handler returned (a client that left a
        #: deployment whose engine finishes such sequences): the ledger line waits for it.
        self.settled: asyncio.Future[None] | None = None
