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
    if not request.is_ok:
        return False
    final = request.final
    if final is None:
        return False
    if slo.ttft is not None:
        ttft = request.user_ttft_s()
        if ttft is None or ttft > slo.ttft:
            return False
    if slo.e2e is not None:
        e2e = request.latency_with_retries_s()
        if e2e is None or e2e > slo.e2e:
            return False
    if slo.tpot is not None:
        tpot = tpot_s(final)
        if tpot is not None and tpot > slo.tpot:
            return False
    return True


def slo_figures(
    requests: Sequence[LogicalRequest], slo: Slo, duration_s: float
) -> tuple[float | None, float | None]:
    """``(goodput_rps, slo_attainment)``: good requests per steady second and per sent one."""
    sent = [r for r in requests if r.was_sent]
    good = sum(1 for r in sent if meets_slo(r, slo))
    goodput = good / duration_s if duration_s > 0 else None
    attainment = good / len(sent) if sent else None
    return goodput, attainment
