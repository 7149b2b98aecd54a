"""The four gateways of ``gateways/`` (nginx, HAProxy, Envoy, LiteLLM proxy), each configured
to retry twice with a 1 s try timeout (LiteLLM 5 s) over the mock's two replicas, meet three
faults: every attempt a 500 (retry), a first attempt that hangs (timeout) and a first attempt
answered 429 with ``retry-after: 1`` (rate limit). Client retries are off, so every upstream
attempt beyond one per request is the gateway's; amplification is counted from the mock's
ledger (``GET /tokenstorm/ledger?run_id=``) and compared with what each gateway documents for
the config in ``gateways/``:

- nginx: ``proxy_next_upstream_tries 3`` counts the first try, and nginx never sends one
  request to the same server twice, so two servers cap it at 2 tries. A 429 is re-sent at once
  (``http_429``), a read timeout too (``timeout``); nothing waits for ``retry-after``.
- HAProxy 2.6: ``retries 2`` after the first try on what ``retry-on`` names (500,
  ``response-timeout``, ...); 2.6 has no ``429`` among ``retry-on``'s statuses, so a 429 goes
  back to the client as it came, ``retry-after`` included.
- Envoy: ``num_retries: 2`` after the first try on ``5xx`` (which covers a per-try timeout)
  and the listed status 429, whose ``retry-after`` sets the back-off
  (``rate_limited_retry_back_off``): the retry comes a second or more later.
- LiteLLM: ``num_retries: 2``; with one deployment in the group it sleeps what
  ``retry-after`` asks (plus up to 0.75 s of jitter) before retrying a 429.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import GatewayRuns, Upstream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Seconds per try, as the fixtures configure them (LiteLLM's shared one: 5 s).
TRY_TIMEOUT_S = {"nginx": 1.0, "haproxy": 1.0, "envoy": 1.0, "litellm": 5.0}
#: Upstream attempts per request each gateway documents for each case (see the docstring).
EXPECTED_AMPLIFICATION = {
    ("nginx", "retry"): 2.0,
    ("haproxy", "retry"): 3.0,
    ("envoy", "retry"): 3.0,
    ("litellm", "retry"): 3.0,
    ("nginx", "timeout"): 2.0,
    ("haproxy", "timeout"): 2.0,
    ("envoy", "timeout"): 2.0,
    ("litellm", "timeout"): 2.0,
    ("nginx", "429"): 2.0,
    ("haproxy", "429"): 1.0,
    ("envoy", "429"): 2.0,
    ("litellm", "429"): 2.0,
}
#: Seconds from a 429 to its retry: (at least, at most). nginx re-sends at once; Envoy waits
#: the header's second, jittered up to half as much again; LiteLLM the second plus <= 0.75 s.
RETRY_AFTER_GAP_S = {"nginx": (0.0, 0.5), "envoy": (0.95, 2.5), "litellm": (0.95, 2.5)}
GATEWAY_NAMES = ("nginx", "haproxy", "envoy", "litellm")


def _attempts_by_request(upstream: Upstream, run_id: str) -> dict[str | None, list[float]]:
    by_request: dict[str | None, list[float]] = defaultdict(list)
    for entry in upstream.ledger_of(run_id):
        by_request[entry.request_id].append(entry.received_s)
    return {request: sorted(times) for request, times in by_request.items()}


@pytest.mark.parametrize("case", ["retry", "timeout", "429"])
@pytest.mark.parametrize("name", GATEWAY_NAMES)
def test_amplification_follows_the_documented_policy(
    policy_gateways: dict[str, str],
    upstream: Upstream,
    runs: GatewayRuns,
    master_key: None,
    name: str,
    case: str,
) -> None:
    if case == "retry":
        upstream.set_rule("http_500")
    elif case == "timeout":  # the first try hangs until the gateway gives up on it
        upstream.set_rule("hang", first_attempts=1)
    else:
        upstream.set_rule("http_429", first_attempts=1, retry_after_s=1)
    run_id = f"{name}-{case}"
    try:
        run = runs.run(
            run_id,
            policy_gateways[name],
            upstream.ledger_url,
            rate_rps=4.0,
            duration_s=1.0,
            tag_prompt=name == "litellm",  # LiteLLM drops our headers
        )
    finally:
        upstream.set_faults()
    summary, records = run.summary, run.records
    requests = summary["requests_sent"]
    assert requests >= 3
    assert summary["client_attempts"] == requests  # client retries are off
    by_request = _attempts_by_request(upstream, run_id)
    assert set(by_request) == {r.request_id for r in records}
    upstream_attempts = sum(len(times) for times in by_request.values())
    expected = EXPECTED_AMPLIFICATION[(name, case)]
    assert upstream_attempts / requests == expected
    assert Counter(len(times) for times in by_request.values()) == {int(expected): requests}
    assert summary["retry_amplification"] == expected
    statuses = Counter(r.status_code for r in records)
    if case == "retry":
        assert statuses == {500: requests}
    elif case == "timeout":
        assert statuses == {200: requests}
        for times in by_request.values():  # the retry went out when the try timed out
            assert times[1] - times[0] >= TRY_TIMEOUT_S[name] * 0.9
    elif expected == 1.0:  # passed back as it came, retry-after included
        assert statuses == {429: requests}
        assert {r.retry_after_s for r in records} == {1.0}
    else:
        assert statuses == {200: requests}
        low, high = RETRY_AFTER_GAP_S[name]
        for times in by_request.values():
            assert low <= times[1] - times[0] <= high, (name, times)
