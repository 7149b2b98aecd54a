"""The HTTP/SSE client: sends one attempt, times it, and classifies how it ended.

Built on aiohttp (about a tenth of native httpx's CPU per streamed request, see
``bench/client_cpu.py``). One ``HttpClient`` per run holds the connection pool. Every wait is
bounded: connect by ``connect_timeout_s``, the first token by ``first_token_timeout_s``, the
whole attempt by ``timeout_s``; bodies and event lines by size. Whatever the target answers
(HTML, broken JSON, a never-ending stream, a reset), ``send`` returns an ``AttemptResult``
with one outcome from ``harness.contract.outcomes`` and never raises, except ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import orjson

from harness.api import errors
from harness.api.registry import wire_api
from harness.api.requests import OutgoingRequest, check_cache_control
from harness.api.sse import SseDecoder
from harness.api.tokenstorm_headers import DEPLOYMENT_HEADER, FAULT_HEADER, tokenstorm_server
from harness.api.wire_api import WireApi
from harness.client.answer import Answer
from harness.client.pool import DEFAULT_MAX_CONNECTIONS
from harness.client.transport import Phase, transport_outcome
from harness.contract.outcomes import Outcome, outcome_for_status

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024


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


def retry_after_s(headers: Mapping[str, str], now_wall_s: float | None = None) -> float | None:
    """Server-requested delay (``harness.api.errors.retry_after_s``), dates against now."""
    return errors.retry_after_s(headers, time.time() if now_wall_s is None else now_wall_s)


class HttpClient:
    """Sends attempts to one target URL speaking one wire API."""

    def __init__(
        self,
        base_url: str,
        api: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 5.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        now: Callable[[], float] = time.perf_counter,
        cache_control: str = "off",
    ) -> None:
        check_cache_control(api, cache_control)
        self._api: WireApi = wire_api(api)
        self._cache_control = cache_control
        self._secret = api_key
        self._url = base_url.rstrip("/") + self._api.path
        self._headers = {"Content-Type": "application/json", **self._api.request_headers(api_key)}
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._now = now
        self._session: aiohttp.ClientSession | None = None
        #: ``mock`` or ``proxy`` once an answer said a tokenstorm part serves this URL.
        self.tokenstorm_server: str | None = None
        #: Attempts that found every pooled connection taken (they waited for one), and the
        #: most attempts in flight at once.
        self.pool_waits = 0
        self.peak_in_flight = 0
        self._in_flight = 0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=30.0,
                ttl_dns_cache=300,
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self._connect_timeout_s,
                connect=self._connect_timeout_s,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "tokenstorm/0.1"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int,
        stream: bool,
        timeout_s: float,
        first_token_timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        keep_text: bool = False,
        client_prompt_tokens: int | None = None,
    ) -> AttemptResult:
        """Send one attempt; classify its end. Raises only ``asyncio.CancelledError``."""
        planned = OutgoingRequest(model, messages, max_tokens, stream, self._cache_control)
        body = orjson.dumps(self._api.request_body(planned))
        all_headers = {**self._headers, **headers} if headers else self._headers
        answer = Answer(text_parts=[] if keep_text else None)
        phase = Phase()
        status: int | None = None
        deployment = fault = error = None
        wait_s: float | None = None
        should_retry: bool | None = None
        outcome = Outcome.OK
        sent_s = self._now()
        deadline_s = sent_s + timeout_s
        first_deadline_s = min(deadline_s, sent_s + (first_token_timeout_s or timeout_s))
        loop = asyncio.get_running_loop()
        loop_offset = loop.time() - sent_s
        if self._in_flight >= self._max_connections:
            self.pool_waits += 1  # every connection is taken: this attempt waits for one
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            async with asyncio.timeout_at(first_deadline_s + loop_offset) as guard:
                async with self._client().post(self._url, data=body, headers=all_headers) as resp:
                    phase.connected = True
                    phase.first_byte_s = self._now()
                    status = resp.status
                    deployment = resp.headers.get(DEPLOYMENT_HEADER)
                    fault = resp.headers.get(FAULT_HEADER)
                    if self.tokenstorm_server is None:
                        self.tokenstorm_server = tokenstorm_server(resp.headers)
                    if status >= 300:
                        outcome = outcome_for_status(status)
                        wait_s = retry_after_s(resp.headers)
                        should_retry = errors.should_retry(resp.headers)
                        error = await self._error_detail(resp)
                    else:
                        outcome, error = await self._read_answer(
                            resp, answer, stream, guard, deadline_s + loop_offset
                        )
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                outcome, error = Outcome.TIMEOUT_CONNECT, "connect timed out"
            elif answer.first_token_s is None:
                outcome = Outcome.TIMEOUT_FIRST_TOKEN
                error = f"no first token within {first_deadline_s - sent_s:.3f} s"
            else:
                outcome = Outcome.TIMEOUT_STREAM
                error = f"stream not finished within {timeout_s:.3f} s"
        except (aiohttp.ClientError, OSError) as exc:
            outcome, error = transport_outcome(exc, phase)
        finally:
            self._in_flight -= 1
        done_s = self._now()
        return self._result(
            answer,
            sent_s,
            phase.first_byte_s,
            done_s,
            status,
            outcome,
            deployment,
            error,
            wait_s,
            fault,
            client_prompt_tokens,
            should_retry,
        )

    async def _error_detail(self, resp: aiohttp.ClientResponse) -> str:
        raw = await resp.content.read(MAX_ERROR_BODY_BYTES)
        try:
            message = self._api.error_message(orjson.loads(raw))
        except orjson.JSONDecodeError:
            message = None
        if message is None:
            message = raw[:200].decode("utf-8", "replace").strip() or resp.reason or ""
        return f"HTTP {resp.status}: {message}"

    async def _read_answer(
        self,
        resp: aiohttp.ClientResponse,
        answer: Answer,
        stream: bool,
        guard: asyncio.Timeout,
        deadline_loop_s: float,
    ) -> tuple[Outcome, str | None]:
        content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "text/event-stream":
            return await self._read_stream(resp, answer, guard, deadline_loop_s)
        if content_type.endswith("json"):
            guard.reschedule(deadline_loop_s)
            parts: list[bytes] = []
            size = 0
            # read() of aiohttp's stream returns what has arrived so far: read to the end
            while chunk := await resp.content.readany():
                parts.append(chunk)
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return Outcome.PROTOCOL_ERROR, f"body larger than {MAX_BODY_BYTES} bytes"
            raw = b"".join(parts)
            try:
                answer.take_body(self._api.decode_body(orjson.loads(raw)), self._now(), self._api)
            except (orjson.JSONDecodeError, AttributeError, TypeError, KeyError) as exc:
                return Outcome.PROTOCOL_ERROR, f"invalid JSON body: {exc}"[:300]
            if answer.error is not None:
                return Outcome.STREAM_ERROR, answer.error
            return Outcome.OK, None
        kind = "stream" if stream else "JSON"
        return (
            Outcome.PROTOCOL_ERROR,
            f"expected a {kind} answer, got Content-Type {content_type!r}",
        )

    async def _read_stream(
        self,
        resp: aiohttp.ClientResponse,
        answer: Answer,
        guard: asyncio.Timeout,
        deadline_loop_s: float,
    ) -> tuple[Outcome, str | None]:
        decoder = SseDecoder()
        api = self._api
        decode = api.decode_event
        take = answer.take_events
        content = resp.content
        now = self._now
        waiting_first = True
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                now_s = now()
                take(decoder.feed(chunk), api, decode, now_s)
                if decoder.error is not None:
                    raise ValueError(decoder.error)
                if waiting_first and answer.first_token_s is not None:
                    guard.reschedule(deadline_loop_s)
                    waiting_first = False
                if answer.terminated or answer.error is not None:
                    break
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return Outcome.PROTOCOL_ERROR, f"malformed event stream: {exc}"[:300]
        if answer.error is not None:
            return Outcome.STREAM_ERROR, answer.error
        if not answer.terminated:
            return Outcome.STREAM_CUT, "stream ended without its terminator"
        return Outcome.OK, None

    def _result(
        self,
        answer: Answer,
        sent_s: float,
        first_byte_s: float | None,
        done_s: float,
        status: int | None,
        outcome: Outcome,
        deployment: str | None,
        error: str | None,
        wait_s: float | None,
        fault: str | None,
        client_prompt_tokens: int | None,
        should_retry: bool | None,
    ) -> AttemptResult:
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
        if error and self._secret and self._secret in error:
            error = error.replace(self._secret, "***")  # servers may echo a bad key back
        return AttemptResult(
            sent_s=sent_s,
            first_byte_s=first_byte_s,
            first_token_s=answer.first_token_s,
            done_s=done_s,
            status_code=status,
            outcome=outcome,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            usage_source=source,
            model=answer.model,
            deployment=deployment,
            error_detail=error,
            token_times_s=tuple(answer.token_times_s),
            retry_after_s=wait_s,
            fault=fault,
            text=text,
            should_retry=should_retry,
            cache_write_tokens=written,
            finish_reason=answer.finish_reason,
        )
