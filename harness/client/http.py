"""The HTTP/SSE client: sends one attempt, times it, and classifies how it ended.

Built on aiohttp (about a tenth of native httpx's CPU per streamed request, see
``bench/client_cpu.py``). One ``HttpClient`` per run holds the connection pool. Every wait is
bounded: connect by ``connect_timeout_s``, the first token by ``first_token_timeout_s``, the
whole attempt by ``timeout_s``; bodies and event lines by size. Whatever the target answers
(HTML, broken JSON, a never-ending stream, a reset), ``send`` returns an ``AttemptResult``
with one outcome from ``harness.contract.outcomes`` and never raises, except ``CancelledError``.
What the bytes mean is decided in ``harness.client.exchange`` (no I/O there), which the
Locust engine's gevent transport calls too; this module only moves bytes and keeps time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

import aiohttp
import orjson

from harness.api import errors
from harness.api.registry import wire_api
from harness.api.requests import OutgoingRequest, check_cache_control
from harness.api.wire_api import WireApi
from harness.client.exchange import (
    MAX_ERROR_BODY_BYTES,
    READ_ERROR,
    READ_JSON,
    READ_STREAM,
    Exchange,
)
from harness.client.exchange import (
    AttemptResult as AttemptResult,
)
from harness.client.pool import DEFAULT_MAX_CONNECTIONS
from harness.client.transport import Phase, transport_outcome


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
        sent_s = self._now()
        exchange = Exchange(self._api, stream, keep_text, sent_s)
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
                    todo = exchange.head(resp.status, resp.headers, self._now(), time.time())
                    if self.tokenstorm_server is None:
                        self.tokenstorm_server = exchange.server
                    if todo == READ_ERROR:
                        raw = await resp.content.read(MAX_ERROR_BODY_BYTES)
                        exchange.error_body(raw, resp.reason or "")
                    elif todo == READ_JSON:
                        guard.reschedule(deadline_s + loop_offset)
                        await self._read_body(resp, exchange, None, 0.0)
                    elif todo == READ_STREAM:
                        await self._read_body(resp, exchange, guard, deadline_s + loop_offset)
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            connect = isinstance(exc, aiohttp.ConnectionTimeoutError)
            exchange.timed_out(connect, first_deadline_s, timeout_s)
        except (aiohttp.ClientError, OSError) as exc:
            phase = Phase()
            phase.connected, phase.first_byte_s = exchange.connected, exchange.first_byte_s
            exchange.broke(*transport_outcome(exc, phase))
        finally:
            self._in_flight -= 1
        return exchange.result(self._now(), client_prompt_tokens, self._secret)

    async def _read_body(
        self,
        resp: aiohttp.ClientResponse,
        exchange: Exchange,
        guard: asyncio.Timeout | None,
        deadline_loop_s: float,
    ) -> None:
        """Feed the body to ``exchange`` as it arrives; with ``guard`` (a stream), move the
        deadline from the first token's to the whole attempt's once the first token is in."""
        content = resp.content
        now = self._now
        feed = exchange.feed
        answer = exchange.answer
        waiting_first = guard is not None
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            if feed(chunk, now()):
                break
            if waiting_first and answer.first_token_s is not None:
                assert guard is not None
                guard.reschedule(deadline_loop_s)
                waiting_first = False
        if exchange.reading:
            exchange.end_of_body(now())
