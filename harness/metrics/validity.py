"""Run validity: the test rig's own health figures in, a verdict and its reasons out.

A run is invalid when the load generator rather than the target was the bottleneck, because
then its figures describe the client: the client sent late (schedule lag p99 above a limit;
``schedule_lag_effects`` words what that does to each figure), could not keep up at all
(dropped requests), used nearly a whole CPU, or held attempts back because every connection
of its pool was taken (attempts that waited for a pool slot). It is invalid too when the
upstream is a tokenstorm mock that fell behind its own schedule (upstream lag p99, from the
ledger): a gateway test's latencies then describe the mock's core, not the gateway.
Each failed check adds a note saying which figure crossed which limit; checks that could not
be made add a note too (but for upstream lag, which only a mock knows) but do not make the run
invalid.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ValidityLimits:
    max_schedule_lag_p99_ms: float = 10.0
    max_dropped_requests: int = 0
    max_client_cpu_share: float = 0.9
    max_upstream_lag_p99_ms: float = 5.0
    max_pool_waits: int = 0


def assess_validity(
    *,
    schedule_lag_p99_ms: float | None,
    requests_dropped: int,
    requests_sent: int,
    client_cpu_s: float | None,
    wall_s: float | None,
    limits: ValidityLimits,
    upstream_lag_p99_ms: float | None = None,
    achieved_rps: float | None = None,
    target_rps: float | None = None,
    pool_waits: int | None = None,
    max_connections: int | None = None,
) -> tuple[bool, list[str]]:
    """``(valid, notes)`` for one run; see the module docstring for the rules."""
    valid = True
    notes: list[str] = []
    if requests_sent == 0:
        valid = False
        notes.append("no request was sent, so there is nothing to measure")
    for lag in (
        _lag_over(
            "schedule lag",
            schedule_lag_p99_ms,
            limits.max_schedule_lag_p99_ms,
            schedule_lag_effects(achieved_rps, target_rps),
        ),
        _lag_over(
            "upstream lag",
            upstream_lag_p99_ms,
            limits.max_upstream_lag_p99_ms,
            "the mock fell behind its own schedule (its core was the bottleneck), so "
            "latencies describe the mock too",
        ),
    ):
        if lag is not None:
            valid = False
            notes.append(lag)
    if requests_dropped > limits.max_dropped_requests:
        valid = False
        notes.append(
            f"{requests_dropped} planned requests were dropped because the generator was "
            f"overloaded (limit {limits.max_dropped_requests})"
        )
    if pool_waits is not None and pool_waits > limits.max_pool_waits:
        valid = False
        notes.append(_pool_note(pool_waits, max_connections))
    if client_cpu_s is None or wall_s is None or wall_s <= 0:
        notes.append("client CPU share was not measured")
    else:
        share = client_cpu_s / wall_s
        if share > limits.max_client_cpu_share:
            valid = False
            notes.append(
                f"client CPU share {share:.0%} exceeds {limits.max_client_cpu_share:.0%}: "
                "the generator was CPU-bound"
            )
    return valid, notes


def _pool_note(waits: int, max_connections: int | None) -> str:
    pool = "" if max_connections is None else f" ({max_connections:,} connections)"
    return (
        f"{waits:,} attempts waited for a free connection: the client's pool{pool} capped "
        "the concurrency, a client bottleneck; latencies from the planned send include the "
        "wait, and the target never saw the load planned (raise [target] max_connections)"
    )


def schedule_lag_effects(achieved_rps: float | None, target_rps: float | None) -> str:
    """What a client that fell behind its schedule does to each figure.

    The lag is the client's own queueing or CPU, not the target's: latencies timed from the
    actual send may be inflated by it too (a busy client reads its answers late), the corrected
    latencies from the planned send include the whole lag, and the rate sent falls short of
    the plan. None of them is understated.
    """
    rate = "the achieved rate may fall short of the plan"
    if achieved_rps is not None and target_rps is not None and achieved_rps < target_rps:
        rate = f"the achieved rate ({achieved_rps:,.1f}/s) is below the plan ({target_rps:,.1f}/s)"
    return (
        "the client fell behind its own schedule (queueing or CPU on the client side): "
        "TTFT, ITL and E2E from the actual send may be inflated by the client's late reading; "
        "the corrected TTFT and E2E include the lag itself, which the target did not cause; " + rate
    )


def _lag_over(name: str, p99_ms: float | None, limit_ms: float, meaning: str) -> str | None:
    """The note for a lag whose p99 is over its limit, or None (within it, or not measured)."""
    if p99_ms is None or p99_ms <= limit_ms:
        return None
    return f"{name} p99 {p99_ms:.1f} ms exceeds {limit_ms:g} ms: {meaning}"
