"""Summarize a run: plan, attempt records, ledger and prices in, the ``summary.json`` object out.

Edge semantics (docs/metrics.md gives the definitions):

- Logical-request counts: ``requests_planned`` counts every planned request (plus any request
  id seen only in records); ``requests_sent`` those with at least one sent attempt;
  ``requests_ok`` those whose final sent attempt succeeded; ``requests_failed`` is
  ``sent - ok`` (a request still in flight when the run ended counts as failed: it produced no
  answer); ``requests_dropped`` / ``requests_cancelled`` count requests never sent.
  So ``planned = sent + dropped + cancelled`` and ``sent = ok + failed``.
- TTFT, TTFT corrected, ITL, TPOT, E2E and E2E corrected come from *successful* attempts only,
  so all latency distributions describe the same population; failures show in the error rate
  and the outcome counts. ITL pools every gap of every successful stream, and is withheld
  when the client read tokens in batches because it fell behind
  (``harness.metrics.token_pace``); TPOT needs >= 2 output tokens.
  ``latency_with_retries_ms`` covers every sent request whose final attempt finished,
  whatever its outcome: from the first attempt's intended time to the final end.
- ``target_rps`` counts the planned requests whose (earliest) offset falls inside the steady
  phase; ``achieved_rps`` the requests actually sent; both per second of ``duration_s``. A
  closed loop (``concurrency`` set) plans no rate: its ``target_rps`` is null, and a note
  says that the target's queueing is hidden from its latencies (``CLOSED_LOOP_NOTE``).
- Schedule lag covers every sent attempt, retries included.
- Token totals are what the client observed over all sent attempts (usage when the server
  sent one, else the client's count); ``output_tokens_per_s`` is the completion tokens of
  successful attempts per second of the planned steady phase, like ``achieved_rps``.
  ``cached_tokens_total`` and ``cache_hit_rate`` are null when no attempt's usage said.
  ``prompt_tokens_planned_total`` and ``prompt_tokens_upstream_total`` compare, over the
  attempts whose server usage reported a prompt count, what the client planned and counted
  (its tokenizer, ``prompt_tokenizer``) with what the upstream counted; their ratio is
  ``prompt_tokens_upstream_ratio`` (null when no usage said; a note when far from 1).
- Unknown stays unknown: a figure that cannot be computed (no price, no usage, no ledger) is
  null, never 0; ``wasted_cost_usd`` is null whenever ``cost_usd_total`` is.
- Cost, waste, upstream attempts, amplification and gateway overhead come from the ledger
  when there is one (``cost_source = "ledger"``); see ``harness.metrics.upstream_figures``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord
from harness.metrics import latency as lat
from harness.metrics.breakdown import breakdowns
from harness.metrics.gateway_cache import cost_by_request, gateway_cache_figures
from harness.metrics.inputs import SummaryInputs
from harness.metrics.percentiles import stats_ms
from harness.metrics.probes import probe_figures
from harness.metrics.requests import LogicalRequest, group_requests
from harness.metrics.slo import slo_figures
from harness.metrics.token_pace import client_behind, itl_figures
from harness.metrics.upstream_figures import upstream_and_cost
from harness.metrics.validity import assess_validity

__all__ = ["SUMMARY_SCHEMA", "SummaryInputs", "summarize"]

SUMMARY_SCHEMA = "tokenstorm.summary/2"

CLOSED_LOOP_NOTE = (
    "closed loop ({n} sessions in flight): a session starts only when another ends, so "
    "when the target queues, the next send waits instead of the user; that queueing delay "
    "is missing from every latency here, schedule lag and corrected figures included "
    "(coordinated omission), and the load is what the target let through, not what users "
    "would offer. Open loop is the default because real users arrive whether or not the "
    "system is slow: use it (a rate) to measure latency under a given load"
)


def _ratio(numerator: float | None, denominator: float) -> float | None:
    if numerator is None or denominator <= 0:
        return None
    return numerator / denominator


def _planned_in_steady_phase(request: LogicalRequest, duration_s: float) -> bool:
    # A later turn's offset is the earliest it could go; turns planned past the end are
    # never sent and are not part of the rate the plan asks for.
    return request.planned is None or request.planned.offset_s < duration_s


def _request_counts(
    requests: Sequence[LogicalRequest], duration_s: float, closed_loop: bool
) -> dict[str, Any]:
    sent = sum(1 for r in requests if r.was_sent)
    ok = sum(1 for r in requests if r.is_ok)
    unsent = Counter(r.outcome for r in requests if not r.was_sent)
    return {
        "requests_planned": len(requests),
        "requests_sent": sent,
        "requests_ok": ok,
        "requests_failed": sent - ok,
        "requests_dropped": unsent.get(Outcome.DROPPED.value, 0),
        "requests_cancelled": sum(n for o, n in unsent.items() if o != Outcome.DROPPED),
        "requests_unrecorded": sum(1 for r in requests if not r.attempts),
        "error_rate": _ratio(sent - ok, sent),
        "outcomes": dict(sorted(Counter(r.outcome for r in requests).items())),
        "achieved_rps": _ratio(sent, duration_s),
        "target_rps": None
        if closed_loop
        else _ratio(
            sum(1 for r in requests if _planned_in_steady_phase(r, duration_s)), duration_s
        ),
    }


def _latencies(
    records: Sequence[AttemptRecord], requests: Sequence[LogicalRequest]
) -> dict[str, Any]:
    sent = [r for r in records if lat.is_sent(r)]
    ok = [r for r in sent if lat.is_ok(r)]

    def over(attempts: Sequence[AttemptRecord], metric: Any) -> dict[str, Any]:
        return stats_ms(v for a in attempts if (v := metric(a)) is not None)

    return {
        "ttft_ms": over(ok, lat.ttft_s),
        "ttft_corrected_ms": over(ok, lat.ttft_corrected_s),
        "tpot_ms": over(ok, lat.tpot_s),
        "e2e_ms": over(ok, lat.e2e_s),
        "e2e_corrected_ms": over(ok, lat.e2e_corrected_s),
        "latency_with_retries_ms": stats_ms(
            v for r in requests if (v := r.latency_with_retries_s()) is not None
        ),
        "schedule_lag_ms": over(sent, lat.schedule_lag_s),
    }


def _tokens(records: Sequence[AttemptRecord], duration_s: float) -> dict[str, Any]:
    sent = [r for r in records if lat.is_sent(r)]
    prompt = sum(r.prompt_tokens or 0 for r in sent)
    # Only a server's usage says how much of a prompt its cache served: with none (usage
    # dropped, or counted by the client) the figures are unknown, not 0.
    reported = [r.cached_tokens for r in sent if r.cached_tokens is not None]
    cached = sum(reported) if reported else None
    written = sum(r.cache_write_tokens or 0 for r in sent)
    delivered = sum(lat.output_tokens(r) for r in sent if lat.is_ok(r))
    return {
        "output_tokens_per_s": _ratio(delivered, duration_s),
        "prompt_tokens_total": prompt,
        "completion_tokens_total": sum(r.completion_tokens or 0 for r in sent),
        "cached_tokens_total": cached,
        "cache_hit_rate": None if cached is None else _ratio(cached, prompt),
        "cache_write_tokens_total": written,
        "usage_source_counts": dict(
            sorted(Counter(r.usage_source or "none" for r in sent).items())
        ),
        "client_attempts": len(sent),
        "attempt_outcomes": dict(sorted(Counter(r.outcome for r in records).items())),
    }


#: A ratio of upstream to planned prompt tokens outside this band gets a note (chat templates
#: add a few tokens per message, so the upstream's count runs a little above the plan's).
_PROMPT_RATIO_BAND = (0.8, 1.25)


def _prompt_counts(records: Sequence[AttemptRecord], tokenizer: str) -> dict[str, Any]:
    pairs = [
        (planned, upstream)
        for r in records
        if r.usage_source == "server"
        and (planned := r.planned_prompt_tokens) is not None
        and (upstream := r.prompt_tokens) is not None
    ]
    planned_total = sum(p for p, _ in pairs) if pairs else None
    upstream_total = sum(u for _, u in pairs) if pairs else None
    return {
        "prompt_tokenizer": tokenizer,
        "prompt_tokens_planned_total": planned_total,
        "prompt_tokens_upstream_total": upstream_total,
        "prompt_tokens_upstream_ratio": None
        if planned_total is None
        else _ratio(upstream_total, planned_total),
        "prompt_tokens_compared_attempts": len(pairs),
    }


def _prompt_note(figures: dict[str, Any]) -> str | None:
    ratio = figures["prompt_tokens_upstream_ratio"]
    if ratio is None or _PROMPT_RATIO_BAND[0] <= ratio <= _PROMPT_RATIO_BAND[1]:
        return None
    tokenizer = figures["prompt_tokenizer"]
    fix = (
        "set [target] tokenizer to the model's tokenizer.json to plan in its tokens"
        if tokenizer == "mock"
        else f"[target] tokenizer ({tokenizer}) is not the one the upstream counts with"
    )
    return (
        f"the upstream counted {ratio:.2f} times the prompt tokens the client planned "
        f"({tokenizer} tokenizer): prompts are not the size asked for; {fix}"
    )


def summarize(inputs: SummaryInputs) -> dict[str, Any]:
    """The JSON-ready content of ``summary.json`` (see the module docstring for semantics)."""
    requests = group_requests(inputs.plan, inputs.records)
    notes: list[str] = []
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "run_id": inputs.run_id,
        "duration_s": inputs.duration_s,
        "concurrency": inputs.concurrency,
    }
    summary.update(_request_counts(requests, inputs.duration_s, inputs.concurrency is not None))
    if inputs.concurrency is not None:
        notes.append(CLOSED_LOOP_NOTE.format(n=inputs.concurrency))
    summary.update(_latencies(inputs.records, requests))
    cpu_share = (
        None
        if inputs.client_cpu_s is None or inputs.wall_s is None
        else _ratio(inputs.client_cpu_s, inputs.wall_s)
    )
    itl = itl_figures(
        [gap for a in inputs.records if lat.is_ok(a) for gap in lat.itl_gaps_s(a)],
        client_behind(
            summary["schedule_lag_ms"]["p99"],
            cpu_share,
            inputs.limits.max_schedule_lag_p99_ms,
            inputs.limits.max_client_cpu_share,
        ),
    )
    summary.update(itl_ms=itl.itl_ms, itl_same_read_share=itl.same_read_share)
    if itl.remark is not None:
        notes.append(itl.remark)
    summary.update(_tokens(inputs.records, inputs.duration_s))
    prompt_counts = _prompt_counts([r for r in inputs.records if lat.is_sent(r)], inputs.tokenizer)
    summary.update(prompt_counts)
    if (prompt_note := _prompt_note(prompt_counts)) is not None:
        notes.append(prompt_note)
    summary["client_retries"] = summary["client_attempts"] - summary["requests_sent"]
    cost_figures, items = upstream_and_cost(inputs, summary["requests_sent"], notes)
    summary.update(cost_figures)
    goodput, attainment = slo_figures(requests, inputs.slo, inputs.duration_s)
    summary.update(
        goodput_rps=goodput, slo_attainment=attainment, slo=inputs.slo.model_dump(mode="json")
    )
    if summary["requests_unrecorded"]:
        notes.append(
            f"{summary['requests_unrecorded']} planned requests have no record "
            "(run interrupted?) and count as cancelled"
        )
    in_flight = sum(1 for r in requests if r.was_sent and r.outcome == Outcome.CANCELLED)
    if in_flight:
        notes.append(
            f"{in_flight} requests were still in flight when the run ended; they count as failed"
        )
    upstream_lag = summary["upstream_lag_ms"]
    valid, validity_notes = assess_validity(
        schedule_lag_p99_ms=summary["schedule_lag_ms"]["p99"],
        upstream_lag_p99_ms=None if upstream_lag is None else upstream_lag["p99"],
        requests_dropped=summary["requests_dropped"],
        requests_sent=summary["requests_sent"],
        client_cpu_s=inputs.client_cpu_s,
        wall_s=inputs.wall_s,
        limits=inputs.limits,
        achieved_rps=summary["achieved_rps"],
        target_rps=summary["target_rps"],
        pool_waits=inputs.pool_waits,
        max_connections=inputs.max_connections,
    )
    if itl.withheld_because is not None:
        validity_notes.append(itl.withheld_because)
    summary.update(
        client_cpu_s=inputs.client_cpu_s,
        wall_s=inputs.wall_s,
        client_cpu_share=cpu_share,
        max_connections=inputs.max_connections,
        pool_waits=inputs.pool_waits,
        valid=valid,
        validity_notes=validity_notes,
        notes=notes,
        validity_limits=dataclasses.asdict(inputs.limits),
    )
    summary.update(breakdowns(requests, items))
    summary.update(
        gateway_cache_figures(
            requests, inputs.ledger, cost_by_request(items), inputs.cache_similarity_threshold
        )
    )
    summary.update(probe_figures(requests, inputs.ledger, np.random.default_rng(0)))
    return summary
