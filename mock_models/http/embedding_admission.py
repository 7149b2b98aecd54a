"""What an embeddings request goes through before its vectors: a deployment, its rate limiter
and engine (either may be absent) and the input's token count in; a 429 with the provider's
headers, a queue-full refusal, or the time the deployment takes to encode the input.

An embedding is a prompt with no generation, so on an engine deployment it is a sequence that
prefills its input and stops at its first step's end (as vLLM serves pooling requests): it
queues, takes a running slot and shares steps with the chat streams, so it slows down under
load, and slows them down, as they do each other. A constant deployment takes its
``ttft_ms + prefill_ms_per_token * input tokens``.
"""

from __future__ import annotations

import asyncio
import time

from harness.api.errors import ErrorKind, RequestError
from mock_models.settings import DeploymentSettings
from mock_models.sim.clock import LAG_NOTED_S, sleep_until
from mock_models.sim.engine import DeploymentEngine
from mock_models.sim.rate_limits import RateLimiter

_QUEUE_FULL = "The server is busy: the waiting requests queue is full. Please retry later."


def check_rate_limit(
    limiter: RateLimiter | None,
    key: str,
    model: str,
    input_tokens: int,
    now_s: float,
    now_unix_s: float,
    headers: dict[str, str],
) -> None:
    """Charge one request and ``input_tokens`` tokens to the deployment's limits; adds the
    ``x-ratelimit-*`` headers to ``headers``, and raises a 429 ``RequestError`` when a bucket
    is empty (``headers`` then also carry ``retry-after`` and ``retry-after-ms``)."""
    if limiter is None:
        return
    verdict = limiter.check(key, input_tokens, now_s, now_unix_s)
    headers.update(verdict.headers)
    if not verdict.allowed:
        raise RequestError(
            429,
            ErrorKind.RATE_LIMIT,
            f"Rate limit reached for {model}. Please try again in {verdict.retry_after_s:.3g}s.",
        )


class _Pooled:
    """The engine's sink for an embedding: no token goes anywhere; the end is all it waits for."""

    __slots__ = ("done", "lag_base_s", "lag_sum_s")

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.lag_sum_s = 0.0
        self.lag_base_s = 0.0

    def token(self) -> None:
        """The input is encoded; ``finish`` follows in the same step."""

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def encode(
    deployment: DeploymentSettings, engine: DeploymentEngine | None, input_tokens: int
) -> float:
    """Wait while the deployment encodes ``input_tokens``; a full engine queue raises the
    deployment's ``queue_full_status`` as a ``RequestError``. A cancelled wait leaves the
    engine's slot at its next step. Returns how late the mock itself made the answer (the
    engine's step, or the constant mode's sleep; 0 when within ``LAG_NOTED_S``)."""
    if engine is None:
        delay_s = (deployment.ttft_ms + deployment.prefill_ms_per_token * input_tokens) / 1000.0
        if delay_s <= 0:
            return 0.0
        due_s = time.monotonic() + delay_s
        await sleep_until(due_s)
        late_s = time.monotonic() - due_s
        return late_s if late_s > LAG_NOTED_S else 0.0
    settings = engine.settings
    if settings.api_overhead_ms > 0:
        await asyncio.sleep(settings.api_overhead_ms / 1000.0)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pooled = _Pooled(done)
    seq = engine.submit(pooled, input_tokens, 1)
    if seq is None:
        status = settings.queue_full_status
        raise RequestError(
            status, ErrorKind.RATE_LIMIT if status == 429 else ErrorKind.OVERLOADED, _QUEUE_FULL
        )
    try:
        await done
    except asyncio.CancelledError:
        engine.abort(seq)
        raise
    return pooled.lag_sum_s  # one pass: the sum is the mean
