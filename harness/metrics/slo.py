"""SLO attainment: logical requests and the scenario's ``Slo`` in, goodput and attainment out.

A request meets the SLO when its final attempt succeeded and every limit the scenario sets
holds, measured as the user saw it: TTFT and E2E run from the *first* attempt's intended send
time (so client retries, backoff and the generator's own lateness all count against it), and
TPOT is that of the final attempt. A request with fewer than two output tokens has no TPOT and
cannot break a TPOT limit. With no limit set, every successful request counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contract.terms import Slo
from harness.metrics.latency import tpot_s
from harness.metrics.requests import LogicalRequest


def meets_slo(request: LogicalRequest, slo: Slo) -> bool:
    final = request.final
    if not request.is_ok or final is None:
        return False
    return within_slo(
        True, request.user_ttft_s(), request.latency_with_retries_s(), tpot_s(final), slo
    )


def within_slo(
    ok: bool,
    user_ttft_s: float | None,
    with_retries_s: float | None,
    final_tpot_s: float | None,
    slo: Slo,
) -> bool:
    """Whether a request that succeeded (``ok``) with these figures met ``slo``: the rule of
    ``meets_slo``, for callers that hold the figures rather than the request (a large run's
    requests, read from its files)."""
    if not ok:
        return False
    if slo.ttft is not None and (user_ttft_s is None or user_ttft_s > slo.ttft):
        return False
    if slo.e2e is not None and (with_retries_s is None or with_retries_s > slo.e2e):
        return False
    return slo.tpot is None or final_tpot_s is None or final_tpot_s <= slo.tpot


def slo_figures(
    requests: Sequence[LogicalRequest], slo: Slo, duration_s: float
) -> tuple[float | None, float | None]:
    """``(goodput_rps, slo_attainment)``: good requests per steady second and per sent one."""
    sent = [r for r in requests if r.was_sent]
    good = sum(1 for r in sent if meets_slo(r, slo))
    goodput = good / duration_s if duration_s > 0 else None
    attainment = good / len(sent) if sent else None
    return goodput, attainment
