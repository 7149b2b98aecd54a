"""Prometheus metrics of the mock, named as vLLM names them: per-deployment counters and
histograms in as answers finish; the text exposition format out (``GET /metrics``).

Label ``model_name`` is the served model, as in vLLM. Gauges of running and waiting
requests come from the engines at scrape time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

_LATENCY_BUCKETS_S: Final = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)


class Histogram:
    """Cumulative buckets, a sum and a count, as Prometheus histograms keep them."""

    __slots__ = ("_bounds", "_counts", "count", "total")

    def __init__(self, bounds: tuple[float, ...] = _LATENCY_BUCKETS_S) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """Record ``value`` ``times`` times (a step's gap for each stream it served)."""
        if times <= 0:
            return
        self._counts[bisect.bisect_left(self._bounds, value)] += times
        self.count += times
        self.total += value * times

    def observe_all(self, values: Sequence[float]) -> None:
        """Record each of ``values`` once (a stream's gaps, in one call rather than one each)."""
        counts, bounds = self._counts, self._bounds
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
        self.count += len(values)
        self.total += sum(values)

    def lines(self, name: str, labels: str) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip(self._bounds, self._counts, strict=False):
            cumulative += count
            yield f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}'
        yield f'{name}_bucket{{{labels},le="+Inf"}} {self.count}'
        yield f"{name}_sum{{{labels}}} {self.total}"
        yield f"{name}_count{{{labels}}} {self.count}"


class DeploymentMetrics:
    """What one deployment has served so far."""

    __slots__ = (
        "cache_hit_tokens",
        "cache_query_tokens",
        "e2e",
        "finished",
        "generation_tokens",
        "itl",
        "kv_cache_usage",
        "lag",
        "preemptions",
        "prompt_tokens",
        "ttft",
    )

    def __init__(self) -> None:
        self.ttft = Histogram()
        self.itl = Histogram()
        self.e2e = Histogram()
        #: Per answer, what its tokens waited for the mock itself on average (its overload).
        self.lag = Histogram()
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.cache_query_tokens = 0
        self.cache_hit_tokens = 0
        self.finished: dict[str, int] = {}
        #: Sequences the engine preempted (KV cache full) and must recompute.
        self.preemptions = 0
        #: Share (0-1) of the KV cache held after the engine's last step.
        self.kv_cache_usage = 0.0

    def answered(
        self,
        prompt_tokens: int,
        cached_tokens: int,
        generated_tokens: int,
        e2e_s: float,
        outcome: str,
    ) -> None:
        self.prompt_tokens += prompt_tokens
        self.cache_query_tokens += prompt_tokens
        self.cache_hit_tokens += cached_tokens
        self.generation_tokens += generated_tokens
        self.e2e.observe(e2e_s)
        self.finished[outcome] = self.finished.get(outcome, 0) + 1


def render(
    models: Mapping[str, str],
    metrics: Mapping[str, DeploymentMetrics],
    gauges: Mapping[str, tuple[int, int]],
) -> bytes:
    """The exposition text; ``models`` maps deployment to model name, ``gauges`` deployment
    to (running, waiting) for engine deployments."""
    out: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")

    def label(deployment: str) -> str:
        return f'model_name="{models[deployment]}",deployment="{deployment}"'

    family("vllm:num_requests_running", "gauge", "Requests in the running batch.")
    out.extend(
        f"vllm:num_requests_running{{{label(d)}}} {running}" for d, (running, _) in gauges.items()
    )
    family("vllm:num_requests_waiting", "gauge", "Requests waiting for a slot.")
    out.extend(
        f"vllm:num_requests_waiting{{{label(d)}}} {waiting}" for d, (_, waiting) in gauges.items()
    )
    # vLLM's current name, and the one it used before (dashboards still read it); 1 = full.
    for name in ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"):
        family(name, "gauge", "KV-cache usage. 1 means 100 percent usage.")
        out.extend(
            f"{name}{{{label(d)}}} {metrics[d].kv_cache_usage}" for d in gauges if d in metrics
        )
    for name, attribute, text in (
        (
            "vllm:num_preemptions_total",
            "preemptions",
            "Sequences preempted (KV cache full) to be recomputed.",
        ),
        ("vllm:prompt_tokens_total", "prompt_tokens", "Prompt tokens processed."),
        ("vllm:generation_tokens_total", "generation_tokens", "Tokens generated."),
        (
            "vllm:prefix_cache_queries_total",
            "cache_query_tokens",
            "Prompt tokens looked up in the prefix cache.",
        ),
        (
            "vllm:prefix_cache_hits_total",
            "cache_hit_tokens",
            "Prompt tokens found in the prefix cache.",
        ),
    ):
        family(name, "counter", text)
        out.extend(f"{name}{{{label(d)}}} {getattr(m, attribute)}" for d, m in metrics.items())
    family("vllm:request_success_total", "counter", "Finished requests by outcome.")
    for d, m in metrics.items():
        out.extend(
            f'vllm:request_success_total{{{label(d)},finished_reason="{reason}"}} {n}'
            for reason, n in sorted(m.finished.items())
        )
    for name, attribute, text in (
        ("vllm:time_to_first_token_seconds", "ttft", "Time to first token."),
        ("vllm:inter_token_latency_seconds", "itl", "Time between tokens of a stream."),
        ("vllm:e2e_request_latency_seconds", "e2e", "Time from receipt to the last token."),
        (
            "tokenstorm:mock_lag_seconds",
            "lag",
            "Per answer, how late its tokens went out on average because the mock was behind.",
        ),
    ):
        family(name, "histogram", text)
        for d, m in metrics.items():
            out.extend(getattr(m, attribute).lines(name, label(d)))
    return ("\n".join(out) + "\n").encode()
