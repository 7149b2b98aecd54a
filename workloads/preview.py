"""Plan preview: a plan in, a handful of numbers (``PlanPreview``) out, rendered as a few
console lines or an SVG picture, so a scenario can be judged before anything is sent."""

from __future__ import annotations

import io
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.contract.records import PlannedRequest
from workloads.prefix_sharing import prefix_share, shared_message_share

_SPARK_LEVELS = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 60


@dataclass(frozen=True, slots=True)
class PlanPreview:
    """Summary figures of a plan.

    ``first_turn_rps`` holds the sessions started per second in each one-second bin of the
    run (the last bin may be shorter; its rate is per second of its own width).
    ``shared_prefix_share``: tokens of messages (role, seed, content, tokens) that more than
    one session sends, over all planned message tokens, each message counted once per session.
    ``shared_prefix_prompt_share``: the part of all planned prompt tokens (prompts as sent: a
    turn re-sends its history unless ``resend_history`` is false) that is a prefix some other
    session sends too: roughly what a prefix cache shared across sessions could serve.
    ``prefix_reuse_prompt_share``: the part that is a prefix some earlier request (in plan
    order, the same session's included) already sent: what an unbounded prefix cache could
    serve. Both count answers as 0 tokens (``workloads.prefix_sharing``).
    Percentiles are nearest-rank (``inverted_cdf``): always a value the plan holds.
    """

    duration_s: float
    requests: int
    sessions: int
    #: Sessions some other session's turn starts (``spawned_by``): sub-agents.
    subagent_sessions: int
    turns_per_session_p50: float
    turns_per_session_max: int
    first_turn_rps: tuple[float, ...]
    prompt_tokens_p50: float
    prompt_tokens_p90: float
    prompt_tokens_p99: float
    prompt_tokens_max: int
    prompt_tokens_total: int
    max_tokens_p50: float
    max_tokens_p90: float
    shared_prefix_share: float
    shared_prefix_prompt_share: float
    prefix_reuse_prompt_share: float
    requests_by_workload: Mapping[str, int]
    requests_by_model: Mapping[str, int]


def _percentile(values: Sequence[int], q: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values), q, method="inverted_cdf"))


def _arrival_rps(plan: Sequence[PlannedRequest], duration_s: float) -> tuple[float, ...]:
    bin_count = max(math.ceil(duration_s), 1)
    counts = [0] * bin_count
    for request in plan:
        if request.turn == 1:
            counts[min(max(int(request.offset_s), 0), bin_count - 1)] += 1
    last_width_s = duration_s - (bin_count - 1) if duration_s > bin_count - 1 else 1.0
    rates = [float(count) for count in counts]
    rates[-1] = counts[-1] / last_width_s
    return tuple(rates)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def preview(plan: Sequence[PlannedRequest], duration_s: float) -> PlanPreview:
    """The summary figures of ``plan`` for a run of ``duration_s`` seconds."""
    sessions: defaultdict[str, list[PlannedRequest]] = defaultdict(list)
    for request in plan:
        sessions[request.session_id].append(request)
    for turns in sessions.values():
        turns.sort(key=lambda request: request.turn)
    turn_counts = [len(turns) for turns in sessions.values()]
    prompt_tokens = [request.prompt_tokens for request in plan]
    max_tokens = [request.max_tokens for request in plan]
    by_workload = Counter(request.tags.get("workload", "?") for request in plan)
    by_model = Counter(request.model for request in plan)
    prefixes = prefix_share(plan)
    sent_tokens = sum(prefixes.prompt_tokens)
    return PlanPreview(
        duration_s=duration_s,
        requests=len(plan),
        sessions=len(sessions),
        subagent_sessions=sum(1 for turns in sessions.values() if turns[0].spawned_by),
        turns_per_session_p50=_percentile(turn_counts, 50),
        turns_per_session_max=max(turn_counts, default=0),
        first_turn_rps=_arrival_rps(plan, duration_s),
        prompt_tokens_p50=_percentile(prompt_tokens, 50),
        prompt_tokens_p90=_percentile(prompt_tokens, 90),
        prompt_tokens_p99=_percentile(prompt_tokens, 99),
        prompt_tokens_max=max(prompt_tokens, default=0),
        prompt_tokens_total=sum(prompt_tokens),
        max_tokens_p50=_percentile(max_tokens, 50),
        max_tokens_p90=_percentile(max_tokens, 90),
        shared_prefix_share=shared_message_share(sessions),
        shared_prefix_prompt_share=_share(sum(prefixes.cross_session_tokens), sent_tokens),
        prefix_reuse_prompt_share=_share(sum(prefixes.earlier_tokens), sent_tokens),
        requests_by_workload=dict(sorted(by_workload.items())),
        requests_by_model=dict(sorted(by_model.items())),
    )


def sparkline(values: Sequence[float], width: int = _SPARK_WIDTH) -> str:
    """Unicode bars for ``values``, averaged into at most ``width`` columns; a blank is zero."""
    if not values:
        return ""
    columns = min(width, len(values))
    edges = [column * len(values) // columns for column in range(columns + 1)]
    means = [float(np.mean(values[start:end])) for start, end in itertools.pairwise(edges)]
    peak = max(means)
    if peak <= 0:
        return " " * columns
    levels = len(_SPARK_LEVELS)
    top = levels - 1
    return "".join(
        " " if mean <= 0 else _SPARK_LEVELS[min(max(math.ceil(mean / peak * levels) - 1, 0), top)]
        for mean in means
    )


def _counts(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


def render_text(summary: PlanPreview) -> str:
    """A compact console preview: a few lines, with a sparkline of the session arrival rate."""
    rates = summary.first_turn_rps
    mean_rps = summary.sessions / summary.duration_s if summary.duration_s > 0 else 0.0
    subagents = (
        f" ({summary.subagent_sessions:,} of them sub-agents)" if summary.subagent_sessions else ""
    )
    lines = [
        f"plan           {summary.requests:,} requests in {summary.sessions:,} sessions"
        f"{subagents} over {summary.duration_s:g} s (turns/session p50 "
        f"{summary.turns_per_session_p50:g}, max {summary.turns_per_session_max})",
        f"sessions/s     mean {mean_rps:.3g}, peak {max(rates, default=0.0):.3g}  "
        f"|{sparkline(rates)}|",
        f"prompt_tokens  p50 {summary.prompt_tokens_p50:,.0f}  p90 {summary.prompt_tokens_p90:,.0f}"
        f"  p99 {summary.prompt_tokens_p99:,.0f}  max {summary.prompt_tokens_max:,}"
        f"  total {summary.prompt_tokens_total:,} (answers not included)",
        f"max_tokens     p50 {summary.max_tokens_p50:,.0f}  p90 {summary.max_tokens_p90:,.0f}",
        f"shared prefix  {summary.shared_prefix_prompt_share:.1%} of prompt tokens across "
        f"sessions ({summary.shared_prefix_share:.1%} of message tokens)",
        f"prefix reuse   {summary.prefix_reuse_prompt_share:.1%} of prompt tokens repeat an "
        f"earlier request's prefix",
        f"by workload    {_counts(summary.requests_by_workload)}",
        f"by model       {_counts(summary.requests_by_model)}",
    ]
    return "\n".join(lines)


def render_svg(summary: PlanPreview) -> str:
    """An SVG picture of the session arrival rate over the run (text kept as text)."""
    # Lazy: matplotlib costs about half a second to import and only this picture needs it.
    # Figure without pyplot keeps no global figure registry.
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tokenstorm"}):
        figure = Figure(figsize=(8.0, 3.0))
        axes = figure.add_subplot()
        # One extra point so the last bin's step is drawn to its end.
        rates = [*summary.first_turn_rps, *summary.first_turn_rps[-1:]]
        starts_s = [float(second) for second in range(len(rates))]
        axes.step(starts_s, rates, where="post", color="#1f6feb", linewidth=1.2)
        axes.fill_between(starts_s, rates, step="post", color="#1f6feb", alpha=0.15)
        axes.set_xlim(0, max(summary.duration_s, 1.0))
        axes.set_ylim(bottom=0)
        axes.set_xlabel("time since run start (s)")
        axes.set_ylabel("sessions started / s")
        axes.set_title(
            f"{summary.requests:,} requests, {summary.sessions:,} sessions; prompt_tokens "
            f"p50 {summary.prompt_tokens_p50:,.0f}, p99 {summary.prompt_tokens_p99:,.0f}",
            fontsize=10,
        )
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
