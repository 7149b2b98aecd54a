"""The ledger line of one attempt in the making: the request's tokenstorm headers in, filled
in as the attempt goes; a ``LedgerEntry`` out when it ends."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from faults.decide import attempt_number
from harness.api.tokenstorm_headers import (
    ATTEMPT_HEADER,
    REQUEST_ID_HEADER,
    RUN_ID_HEADER,
)
from harness.contract.outcomes import Outcome
from harness.contract.records import LedgerEntry
from mock_models.sim.progress import CLIENT_CLOSED, Progress

#: The tag the harness appends to each request's last user message (``target.tag_prompt``)
#: for gateways that drop unknown headers but forward the body.
PROMPT_TAG: Final = re.compile(r"\[tokenstorm run=([A-Za-z0-9._-]+) request=([^\]\s]+)\]")


class AttemptDraft:
    """The ledger line of one attempt, filled in as the attempt goes."""

    __slots__ = (
        "attempt",
        "counted_attempt",
        "deployment",
        "fault",
        "model",
        "outcome",
        "prompt_tokens",
        "received_s",
        "request_id",
        "run_id",
        "said_attempt",
        "stream",
    )

    def __init__(self, headers: Mapping[str, str], received_s: float) -> None:
        self.run_id = headers.get(RUN_ID_HEADER)
        self.request_id = headers.get(REQUEST_ID_HEADER)
        raw_attempt = headers.get(ATTEMPT_HEADER)
        self.attempt = int(raw_attempt) if raw_attempt and raw_attempt.isdigit() else None
        #: The attempt number the headers say (``x-tokenstorm-attempt``, else the Stainless
        #: SDKs' retry count), and the mock's own once the request is named (set by the
        #: service: its count of the request's arrivals, or the headers' when larger).
        self.said_attempt = attempt_number(headers)
        self.counted_attempt: int | None = None
        self.received_s = received_s
        self.deployment = ""
        self.model = ""
        self.stream = False
        self.prompt_tokens = 0
        self.fault: str | None = None
        self.outcome: str = Outcome.OK

    def failed_by_a_bug(self, progress: Progress) -> None:
        """An exception of ours ended the attempt: aiohttp answers 500 and logs it, and the
        ledger must not say "ok"."""
        self.outcome = Outcome.HTTP_5XX
        if progress.status == CLIENT_CLOSED:
            progress.status = 500

    def adopt_prompt_tag(self, pieces: Sequence[str]) -> None:
        """Without the headers, the run and request named by the prompt's newest tag (the last
        one, searching from the last piece backwards): the run wherever that tag is, the
        request only when it is in the prompt's last piece. Earlier turns' tags ride along in
        the re-sent history under their own request ids, so a tag outside the last piece
        belongs to another request: no request id beats a wrong one."""
        if self.run_id is not None or self.request_id is not None:
            return
        for index in range(len(pieces) - 1, -1, -1):
            found = PROMPT_TAG.findall(pieces[index])
            if found:
                newest = found[-1]
                self.run_id = newest[0]
                if index == len(pieces) - 1:
                    self.request_id = newest[1]
                return

    @property
    def rule_attempt(self) -> int | None:
        """The attempt number fault rules go by: the mock's own when the request is named,
        else what the headers say."""
        return self.said_attempt if self.counted_attempt is None else self.counted_attempt

    def entry(self, api: str, progress: Progress, service_ms: float) -> LedgerEntry:
        return LedgerEntry(
            run_id=self.run_id,
            request_id=self.request_id,
            attempt=self.attempt,
            received_s=self.received_s,
            deployment=self.deployment,
            model=self.model,
            api=api,
            stream=self.stream,
            prompt_tokens=self.prompt_tokens,
            cached_tokens=progress.cached_tokens,
            cache_write_tokens=progress.cache_write_tokens,
            completion_tokens=progress.tokens,
            fault=self.fault,
            outcome=str(self.outcome),
            status_code=progress.status,
            service_ms=service_ms,
            lag_ms=round(progress.lag_s * 1000.0, 3),
        )


def api_key(headers: Mapping[str, str]) -> str:
    """The caller's key (OpenAI's bearer token or Anthropic's x-api-key); "" without one."""
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return headers.get("x-api-key", "")
