"""One attempt as bytes and events, with no I/O: the answer's head, body bytes, the end of the
body, a timeout or a broken connection in; one outcome of ``harness.contract.outcomes``,
usage and timings out (``AttemptResult``).

Every engine's transport calls this (aiohttp in ``harness.client.http``, gevent sockets in
``harness.locust.transport``), so an answer is classified one way whatever carried it. The
transport owns sockets, timers and the clock; it tells the exchange what happened and when:

* ``head(status, headers, now_s)`` once the status line and headers are in; it says what the
  transport reads next (``READ_ERROR``: up to ``MAX_ERROR_BODY_BYTES`` for the detail,
  ``READ_STREAM`` / ``READ_JSON``: the body, ``READ_NOTHING``: the outcome is known);
* ``feed(chunk, now_s)`` for each body piece (True: stop reading, the answer is complete or
  broken), then ``end_of_body()``;
* or ``timed_out(...)`` / ``broke(outcome, detail)`` when the transport gave up;
* ``result(done_s, ...)`` for the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from harness.api import errors
from harness.api.sse import SseDecoder
from harness.api.tokenstorm_headers import DEPLOYMENT_HEADER, FAULT_HEADER, tokenstorm_server
from harness.api.wire_api import WireApi
from harness.client.answer import Answer
from harness.contract.outcomes import Outcome, outcome_for_status

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024

READ_ERROR: Final = "error"
READ_STREAM: Final = "stream"
READ_JSON: Final = "json"
READ_NOTHING: Final = "nothing"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    sent_s: float
    first_byte_s: float | None
    first_token_s: float | None
    done_s: float
    status_code: int | None
    outcome: Outcome
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    usage_source: str | None
    model: str | None
    deployment: str | None
    error_detail: str | None
    token_times_s: tuple[float, ...]
    retry_after_s: float | None
    fault: str | None
    text: str
    #: The server's ``x-should-retry`` verdict (Stainless SDKs obey it); None when absent.
    should_retry: bool | None = None
    #: Prompt tokens the server wrote to its prompt cache (server usage only).
    cache_write_tokens: int | None = None
    #: The answer's finish or stop reason as its API spells it; None when it named none.
    finish_reason: str | None = None


class Exchange:
    """What one attempt's answer said so far (see the module docstring for the calls)."""

    __slots__ = (
        "_body",
        "_body_bytes",
        "_decoder",
        "_mode",
        "_stream",
        "answer",
        "api",
        "connected",
        "deployment",
        "error",
        "fault",
        "first_byte_s",
        "outcome",
        "sent_s",
        "server",
        "should_retry",
        "status",
        "wait_s",
    )

    def __init__(self, api: WireApi, stream: bool, keep_text: bool, sent_s: float) -> None:
        self.api = api
        self._stream = stream
        self.sent_s = sent_s
        self.answer = Answer(text_parts=[] if keep_text else None)
        self.connected = False
        self.first_byte_s: float | None = None
        self.status: int | None = None
        self.deployment: str | None = None
        self.fault: str | None = None
        self.server: str | None = None
        self.wait_s: float | None = None
        self.should_retry: bool | None = None
        self.outcome = Outcome.OK
        self.error: str | None = None
        self._mode: str = READ_NOTHING
        self._decoder: SseDecoder | None = None
        self._body: list[bytes] = []
        self._body_bytes = 0

    def head(self, status: int, headers: Mapping[str, str], now_s: float, now_wall_s: float) -> str:
        """The status line and headers arrived at ``now_s``; what to read next.
        ``headers`` must answer lower-case names."""
        self.connected = True
        self.first_byte_s = now_s
        self.status = status
        self.deployment = headers.get(DEPLOYMENT_HEADER)
        self.fault = headers.get(FAULT_HEADER)
        self.server = tokenstorm_server(headers)
        if status >= 300:
            self.outcome = outcome_for_status(status)
            self.wait_s = errors.retry_after_s(headers, now_wall_s)
            self.should_retry = errors.should_retry(headers)
            self._mode = READ_ERROR
            return READ_ERROR
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "text/event-stream":
            self._decoder = SseDecoder()
            self._mode = READ_STREAM
        elif content_type.endswith("json"):
            self._mode = READ_JSON
        else:
            kind = "stream" if self._stream else "JSON"
            self.outcome = Outcome.PROTOCOL_ERROR
            self.error = f"expected a {kind} answer, got Content-Type {content_type!r}"
            self._mode = READ_NOTHING
        return self._mode

    def error_body(self, raw: bytes, reason: str) -> None:
        """The first ``MAX_ERROR_BODY_BYTES`` of an error answer's body (``READ_ERROR``)."""
        try:
            message = self.api.error_message(orjson.loads(raw))
        except orjson.JSONDecodeError:
            message = None
        if message is None:
            message = raw[:200].decode("utf-8", "replace").strip() or reason
        self.error = f"HTTP {self.status}: {message}"
        self._mode = READ_NOTHING

    def feed(self, chunk: bytes, now_s: float) -> bool:
        """A body piece that arrived at ``now_s``; True when reading should stop."""
        if self._mode == READ_STREAM:
            decoder = self._decoder
            assert decoder is not None
            answer, api = self.answer, self.api
            try:
                answer.take_events(decoder.feed(chunk), api, api.decode_event, now_s)
                if decoder.error is not None:
                    raise ValueError(decoder.error)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                self._finish(Outcome.PROTOCOL_ERROR, f"malformed event stream: {exc}"[:300])
                return True
            return answer.terminated or answer.error is not None
        if self._mode == READ_JSON:
            self._body.append(chunk)
            self._body_bytes += len(chunk)
            if self._body_bytes > MAX_BODY_BYTES:
                self._finish(Outcome.PROTOCOL_ERROR, f"body larger than {MAX_BODY_BYTES} bytes")
                return True
            return False
        return True

    def end_of_body(self, now_s: float) -> None:
        """The body ended (or the stream's terminator came) at ``now_s``."""
        answer = self.answer
        if self._mode == READ_STREAM:
            if answer.error is not None:
                self._finish(Outcome.STREAM_ERROR, answer.error)
            elif not answer.terminated:
                self._finish(Outcome.STREAM_CUT, "stream ended without its terminator")
            else:
                self._finish(Outcome.OK, None)
        elif self._mode == READ_JSON:
            raw = b"".join(self._body)
            try:
                answer.take_body(self.api.decode_body(orjson.loads(raw)), now_s, self.api)
            except (orjson.JSONDecodeError, AttributeError, TypeError, KeyError) as exc:
                self._finish(Outcome.PROTOCOL_ERROR, f"invalid JSON body: {exc}"[:300])
                return
            if answer.error is not None:
                self._finish(Outcome.STREAM_ERROR, answer.error)
            else:
                self._finish(Outcome.OK, None)

    @property
    def reading(self) -> bool:
        """True while a body is being read (``READ_STREAM`` / ``READ_JSON``)."""
        return self._mode in (READ_STREAM, READ_JSON)

    def timed_out(self, connect: bool, first_deadline_s: float, timeout_s: float) -> None:
        """The transport's timer fired: while connecting, before the first token, or later."""
        if connect:
            self._finish(Outcome.TIMEOUT_CONNECT, "connect timed out")
        elif self.answer.first_token_s is None:
            self._finish(
                Outcome.TIMEOUT_FIRST_TOKEN,
                f"no first token within {first_deadline_s - self.sent_s:.3f} s",
            )
        else:
            self._finish(Outcome.TIMEOUT_STREAM, f"stream not finished within {timeout_s:.3f} s")

    def broke(self, outcome: Outcome, detail: str) -> None:
        """The connection broke below HTTP (the transport classified how)."""
        self._finish(outcome, detail)

    def _finish(self, outcome: Outcome, error: str | None) -> None:
        self.outcome, self.error = outcome, error
        self._mode = READ_NOTHING

    def result(
        self, done_s: float, client_prompt_tokens: int | None, secret: str | None
    ) -> AttemptResult:
        answer, outcome, status, error = self.answer, self.outcome, self.status, self.error
        server_usage = outcome is Outcome.OK and answer.completion_tokens is not None
        if server_usage:
            prompt, completion, cached = (
                answer.prompt_tokens,
                answer.completion_tokens,
                answer.cached_tokens,
            )
            written = answer.cache_write_tokens
            source: str | None = "server"
        elif status is not None and status < 300:
            prompt, completion, cached = client_prompt_tokens, answer.content_events, None
            written, source = None, "client"
        else:
            prompt = completion = cached = written = None
            source = None
        text = "".join(answer.text_parts) if answer.text_parts else ""
        if error and secret and secret in error:
            error = error.replace(secret, "***")  # servers may echo a bad key back
        return AttemptResult(
            sent_s=self.sent_s,
            first_byte_s=self.first_byte_s,
            first_token_s=answer.first_token_s,
            done_s=done_s,
            status_code=status,
            outcome=outcome,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            usage_source=source,
            model=answer.model,
            deployment=self.deployment,
            error_detail=error,
            token_times_s=tuple(answer.token_times_s),
            retry_after_s=self.wait_s,
            fault=self.fault,
            text=text,
            should_retry=self.should_retry,
            cache_write_tokens=written,
            finish_reason=answer.finish_reason,
        )
