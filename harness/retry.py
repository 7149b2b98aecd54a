"""The client's retry policy as a pure decision: given how an attempt ended, wait how long?

Mirrors what the official OpenAI and Anthropic SDKs do when a scenario turns retries on:
exponential backoff ``min(base * 2**(n-1), max) * (1 - jitter * u)``, replaced by the
server's ``retry-after`` when it asks for one (up to ``max_retry_after``).
"""

from __future__ import annotations

from harness.contract.outcomes import Outcome
from harness.contract.target import RetryPolicy


def retry_delay_s(
    policy: RetryPolicy,
    attempt: int,
    outcome: Outcome,
    status_code: int | None,
    server_delay_s: float | None,
    u: float,
    server_says_retry: bool | None = None,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or ``None`` to stop retrying.

    ``u`` is a uniform draw in [0, 1) supplied by the caller (the engine owns the RNG).
    ``server_says_retry`` is the server's ``x-should-retry`` header, which overrides the
    status rules as in the official SDKs (a quota-exhausted 429 says ``false``).
    """
    if attempt >= policy.attempts or outcome is Outcome.OK or server_says_retry is False:
        return None
    if server_says_retry is True:
        pass
    elif status_code is not None and status_code >= 300:
        if status_code not in policy.retry_on_status:
            return None
    elif outcome.value not in policy.retry_on_outcome:
        return None
    if (
        policy.honor_retry_after
        and server_delay_s is not None
        and server_delay_s <= policy.max_retry_after
    ):
        return server_delay_s
    backoff = policy.backoff
    delay = min(backoff.base * 2.0 ** (attempt - 1), backoff.max)
    return delay * (1.0 - backoff.jitter * u)
