"""The client's retry policy: which failures are retried, and after how long."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.contract.outcomes import Outcome
from harness.contract.target import Backoff, RetryPolicy
from harness.retry import retry_delay_s

POLICY = RetryPolicy(attempts=3, backoff=Backoff(base=0.5, max=8.0, jitter=0.25))


def test_success_and_the_last_attempt_are_never_retried() -> None:
    assert retry_delay_s(POLICY, 1, Outcome.OK, 200, None, 0.0) is None
    assert retry_delay_s(POLICY, 3, Outcome.HTTP_5XX, 500, None, 0.0) is None


def test_retryable_statuses_and_outcomes() -> None:
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_429, 429, None, 0.0) == 0.5
    assert retry_delay_s(POLICY, 2, Outcome.HTTP_5XX, 503, None, 0.0) == 1.0
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_5XX, 529, None, 0.0) == 0.5
    assert retry_delay_s(POLICY, 1, Outcome.CONNECT_ERROR, None, None, 0.0) == 0.5
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_4XX, 400, None, 0.0) is None
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_4XX, 401, None, 0.0) is None
    # a stream cut after a 200 ends silently in the SDKs: not retried by default
    assert retry_delay_s(POLICY, 1, Outcome.STREAM_CUT, 200, None, 0.0) is None


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_429, 429, 3.0, 0.9) == 3.0
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_429, 429, 600.0, 0.0) == 0.5  # over the cap
    ignoring = POLICY.model_copy(update={"honor_retry_after": False})
    assert retry_delay_s(ignoring, 1, Outcome.HTTP_429, 429, 3.0, 0.0) == 0.5


def test_the_servers_should_retry_header_wins() -> None:
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_429, 429, None, 0.0, False) is None
    assert retry_delay_s(POLICY, 1, Outcome.HTTP_4XX, 400, None, 0.0, True) == 0.5


@given(
    attempt=st.integers(1, 9),
    u=st.floats(0, 1, exclude_max=True),
    base=st.floats(0.01, 2),
    cap=st.floats(0.01, 30),
    jitter=st.floats(0, 1),
)
def test_backoff_stays_within_its_jitter_band(
    attempt: int, u: float, base: float, cap: float, jitter: float
) -> None:
    policy = RetryPolicy(attempts=10, backoff=Backoff(base=base, max=cap, jitter=jitter))
    delay = retry_delay_s(policy, attempt, Outcome.HTTP_5XX, 500, None, u)
    assert delay is not None
    full = min(base * 2 ** (attempt - 1), cap)
    assert full * (1 - jitter) - 1e-12 <= delay <= full + 1e-12
