"""Whether per-token gaps describe the target or the client's reading: the inter-token gaps of
successful streams and the client's own load in, the ITL figures (or their withholding) out.

The client stamps every content event parsed from one socket read with that read's time, and
records keep microseconds, so a gap under ``SAME_READ_S`` means two tokens came out of one
read. A few such gaps are normal (a server or gateway flushing two tokens together). When
the client falls behind (its event loop busy or its CPU saturated), tokens pile up in the
socket between reads and come out in batches: most gaps read 0 and one gap per batch carries
the wait, so ITL p50 shrinks towards 0 while the target's real pace is unchanged.

The rule: ITL is *withheld* (every figure null, ``count`` kept) when more than
``MAX_SAME_READ_SHARE`` of the gaps are same-read gaps *and* the client is known to have
fallen behind (schedule lag p99 or CPU share over its validity limit); a validity note says
so. With as many same-read gaps while the client kept up, the batching happened upstream (the
target or a gateway sends tokens in bursts): ITL is kept, as the client saw it, with a note.
TPOT is kept in both cases: batching moves only the ends of each stream's span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.metrics.percentiles import empty_stats, stats_ms

#: Two content events closer than this were parsed from one read: records keep microseconds,
#: so that is a gap of 0 us. (Half a microsecond, not one: subtracting two microsecond times
#: gives a 1 us gap as 0.99999...e-6 or 1.00000...e-6 depending on the times' magnitude.)
SAME_READ_S = 0.5e-6
#: Above this share of same-read gaps, ITL no longer describes token-by-token delivery.
MAX_SAME_READ_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class ItlFigures:
    """``itl_ms`` as summary.json carries it, the share of same-read gaps, and a note."""

    itl_ms: dict[str, Any]
    same_read_share: float | None
    #: Why ITL was withheld (a validity note), or None.
    withheld_because: str | None
    #: A remark that does not make the figure untrustworthy (batched delivery upstream).
    remark: str | None


def same_read_share(gaps_s: Sequence[float]) -> float | None:
    """The share of gaps under ``SAME_READ_S``; None without gaps."""
    if not gaps_s:
        return None
    return sum(1 for gap in gaps_s if gap < SAME_READ_S) / len(gaps_s)


def itl_figures(gaps_s: Sequence[float], client_behind: str | None) -> ItlFigures:
    """ITL from every gap of every successful stream, judged by the rule of the module
    docstring; ``client_behind`` says how the client fell behind (None when it kept up)."""
    return judge_itl(stats_ms(gaps_s), same_read_share(gaps_s), client_behind)


def judge_itl(itl_ms: dict[str, Any], share: float | None, client_behind: str | None) -> ItlFigures:
    """The rule of the module docstring applied to ITL's stats and its same-read share,
    however they were computed (every gap in memory, or a run's gap counts)."""
    if share is None or share <= MAX_SAME_READ_SHARE:
        return ItlFigures(itl_ms, share, None, None)
    if client_behind is not None:
        withheld = {**empty_stats(), "count": itl_ms["count"]}
        return ItlFigures(
            withheld,
            share,
            f"ITL withheld: {share:.0%} of inter-token gaps came out of one read while the "
            f"client fell behind ({client_behind}), so the gaps describe the client's reading, "
            "not the target's pace (TPOT is kept)",
            None,
        )
    return ItlFigures(
        itl_ms,
        share,
        None,
        f"{share:.0%} of inter-token gaps are 0 (several tokens in one read) although the "
        "client kept up: the target or a gateway sends tokens in batches, and ITL describes "
        "that delivery",
    )


def client_behind(
    schedule_lag_p99_ms: float | None,
    client_cpu_share: float | None,
    max_schedule_lag_p99_ms: float,
    max_client_cpu_share: float,
) -> str | None:
    """How the client fell behind, by the validity limits, or None when it kept up."""
    reasons: list[str] = []
    if schedule_lag_p99_ms is not None and schedule_lag_p99_ms > max_schedule_lag_p99_ms:
        reasons.append(f"schedule lag p99 {schedule_lag_p99_ms:.1f} ms")
    if client_cpu_share is not None and client_cpu_share > max_client_cpu_share:
        reasons.append(f"client CPU share {client_cpu_share:.0%}")
    return ", ".join(reasons) or None
