"""The Locust engine's HTTP/SSE client: gevent sockets and geventhttpclient's C HTTP parser
move the bytes; ``harness.client.exchange`` decides what they mean, exactly as for the
asyncio client (same outcomes, usage, retry hints, fault and deployment headers).

``GeventClient.send`` blocks its greenlet only. Every wait is bounded: connect by
``connect_timeout_s``, the first token by ``first_token_timeout_s``, the whole attempt by
``timeout_s`` (each socket read waits at most until the deadline of the phase it is in).
Keep-alive connections are pooled, at most ``max_connections`` open at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import gevent
import gevent.lock
import gevent.socket
import gevent.ssl
import orjson
from geventhttpclient.response import HTTPParseError, HTTPResponse

from harness.api.registry import wire_api
from harness.api.requests import OutgoingRequest, check_cache_control
from harness.client.exchange import (
    MAX_ERROR_BODY_BYTES,
    READ_ERROR,
    READ_JSON,
    READ_NOTHING,
    AttemptResult,
    Exchange,
)
from harness.client.pool import DEFAULT_MAX_CONNECTIONS
from harness.client.transport import Phase, socket_outcome
from harness.contract.outcomes import Outcome

_RECV_BYTES = 64 * 1024


class _Parser(HTTPResponse):
    """geventhttpclient's llhttp parser, its body pieces handed out as they are parsed."""

    def __init__(self) -> None:
        super().__init__(method="POST")
        self.pieces: list[bytes] = []

    def _on_body(self, buf: bytearray) -> None:
        self.pieces.append(bytes(buf))

    def lower_headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.items():
            out.setdefault(name.lower(), value)
        return out


class GeventClient:
    """Sends attempts to one target URL speaking one wire API, from gevent greenlets."""

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
        self._api = wire_api(api)
        self._cache_control = cache_control
        self._secret = api_key
        parts = urlsplit(base_url.rstrip("/") + self._api.path)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._tls else 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        fixed = {
            "Host": host_header,
            "User-Agent": "tokenstorm/0.1",
            "Content-Type": "application/json",
            **self._api.request_headers(api_key),
        }
        self._request_line = f"POST {path} HTTP/1.1\r\n"
        self._fixed = fixed
        self._connect_timeout_s = connect_timeout_s
        self._slots = gevent.lock.BoundedSemaphore(max_connections)
        self._idle: list[gevent.socket.socket] = []
        self._now = now
        self.tokenstorm_server: str | None = None
        self.pool_waits = 0
        self.peak_in_flight = 0
        self._in_flight = 0

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def _head(self, body: bytes, headers: Mapping[str, str] | None) -> bytes:
        merged = {**self._fixed, **headers} if headers else self._fixed
        lines = "".join(f"{k}: {v}\r\n" for k, v in merged.items())
        head = f"{self._request_line}{lines}Content-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    def _connect(self, timeout_s: float) -> gevent.socket.socket:
        sock = gevent.socket.create_connection((self._host, self._port), timeout=timeout_s)
        if self._tls:
            context = gevent.ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self._host)
        return sock

    def send(
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
        """Send one attempt; classify its end. Raises only ``GreenletExit`` (a kill)."""
        planned = OutgoingRequest(model, messages, max_tokens, stream, self._cache_control)
        wire = self._head(orjson.dumps(self._api.request_body(planned)), headers)
        now = self._now
        sent_s = now()
        exchange = Exchange(self._api, stream, keep_text, sent_s)
        deadline_s = sent_s + timeout_s
        first_deadline_s = min(deadline_s, sent_s + (first_token_timeout_s or timeout_s))
        if self._slots.locked():
            self.pool_waits += 1
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        sock: gevent.socket.socket | None = None
        reusable = False
        try:
            with self._slots:
                sock, reusable = self._exchange(
                    exchange, wire, first_deadline_s, deadline_s, timeout_s
                )
        finally:
            self._in_flight -= 1
            if sock is not None:
                if reusable:
                    self._idle.append(sock)
                else:
                    sock.close()
        return exchange.result(now(), client_prompt_tokens, self._secret)

    def _exchange(
        self,
        exchange: Exchange,
        wire: bytes,
        first_deadline_s: float,
        deadline_s: float,
        timeout_s: float,
    ) -> tuple[gevent.socket.socket | None, bool]:
        """Run one attempt on a pooled or new connection; (the socket, reusable after)."""
        now = self._now
        for fresh in (False, True):
            sock: gevent.socket.socket | None = None
            phase = Phase()
            try:
                if not fresh and self._idle:
                    sock = self._idle.pop()
                else:
                    fresh = True
                    left_s = first_deadline_s - now()
                    connect_s = min(self._connect_timeout_s, max(left_s, 1e-3))
                    try:
                        sock = self._connect(connect_s)
                    except TimeoutError:
                        exchange.timed_out(
                            self._connect_timeout_s <= left_s, first_deadline_s, timeout_s
                        )
                        return None, False
                phase.connected = True
                sock.settimeout(max(first_deadline_s - now(), 1e-3))
                sock.sendall(wire)
                parser = _Parser()
                self._read(sock, parser, exchange, first_deadline_s, deadline_s)
                reusable = parser.message_complete and not parser.should_close()
                return sock, reusable
            except TimeoutError:
                exchange.timed_out(False, first_deadline_s, timeout_s)
                return sock, False
            except HTTPParseError as exc:
                exchange.broke(Outcome.PROTOCOL_ERROR, f"{type(exc).__name__}: {exc}"[:300])
                return sock, False
            except OSError as exc:
                phase.first_byte_s = exchange.first_byte_s
                if not fresh and exchange.first_byte_s is None:
                    if sock is not None:
                        sock.close()
                    continue  # a stale pooled connection: try once on a new one
                exchange.broke(*socket_outcome(exc, phase))
                return sock, False
        return None, False  # pragma: no cover - the loop always returns

    def _read(
        self,
        sock: gevent.socket.socket,
        parser: _Parser,
        exchange: Exchange,
        first_deadline_s: float,
        deadline_s: float,
    ) -> None:
        """Read the answer into ``parser`` and feed it to ``exchange`` until it is decided."""
        now = self._now
        todo: str | None = None
        error_body = bytearray()
        answer = exchange.answer
        limit_s = first_deadline_s
        while True:
            data = sock.recv(_RECV_BYTES)
            now_s = now()
            if not data and todo is None:
                raise ConnectionResetError("connection closed before the answer")
            if data:
                parser.feed(data)
            else:
                with contextlib.suppress(HTTPParseError):
                    parser.feed(data)  # the peer closed: ends a body that runs to the close
            if todo is None and parser.headers_complete:
                todo = exchange.head(parser.get_code(), parser.lower_headers(), now_s, time.time())
                if self.tokenstorm_server is None:
                    self.tokenstorm_server = exchange.server
                if todo == READ_NOTHING:
                    return
                if todo == READ_JSON:
                    limit_s = deadline_s
            pieces = parser.pieces
            if pieces:
                chunk = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                pieces.clear()
                if todo == READ_ERROR:
                    error_body += chunk
                elif exchange.feed(chunk, now_s):
                    if exchange.reading:  # the terminator or an in-band error came
                        exchange.end_of_body(now_s)
                    return
            if not data or parser.message_complete:
                break
            if todo == READ_ERROR and len(error_body) >= MAX_ERROR_BODY_BYTES:
                break
            if limit_s == first_deadline_s and answer.first_token_s is not None:
                limit_s = deadline_s
            sock.settimeout(max(limit_s - now(), 1e-3))
        if todo == READ_ERROR:
            exchange.error_body(
                bytes(error_body[:MAX_ERROR_BODY_BYTES]), parser.status_message or ""
            )
        elif not parser.message_complete:
            exchange.broke(Outcome.STREAM_CUT, "connection closed before the body ended")
        else:
            exchange.end_of_body(now())
