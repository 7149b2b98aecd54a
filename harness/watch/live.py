"""The harness's own live figures for Prometheus (``--metrics-port``): attempt records and the
engine's live counters in; the exposition format out, served by prometheus-client's HTTP server
on its own thread (127.0.0.1 unless told otherwise).

The engine's loop only counts (plain integers and bucket arrays, no lock on the hot path); the
collector turns them into metric families when Prometheus scrapes. A histogram's count is
the sum of its buckets read at that moment, so a scrape is always self-consistent.

Series (prefix ``tokenstorm_``): ``attempts_total{outcome}``, ``requests_done_total``,
``requests_failed_total``, ``requests_dropped_total``, ``in_flight``,
``ttft_seconds``, ``e2e_seconds`` and ``schedule_lag_seconds`` histograms, ``cost_usd_total``
(attempts whose model has a price) and ``cost_unpriced_attempts_total`` (those without: their
cost is unknown, not 0), ``run_clock_seconds``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from harness.contract.records import AttemptRecord
from harness.cost import PriceBook, billed_tokens
from harness.engine_config import LiveStats

#: Bucket upper bounds in seconds, for TTFT, E2E and schedule lag alike.
BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
_PREFIX = "tokenstorm_"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.sum_s = 0.0

    def observe(self, value_s: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_S, value_s)] += 1
        self.sum_s += value_s

    def family(self, name: str, text: str) -> HistogramMetricFamily:
        counts = list(self.counts)
        cumulative: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip([*map(str, BUCKETS_S), "+Inf"], counts, strict=True):
            total += count
            cumulative.append((bound, total))
        return HistogramMetricFamily(_PREFIX + name, text, buckets=cumulative, sum_value=self.sum_s)


class LiveFigures(Collector):
    """Counts what the engine writes (``observe``) and reads its ``LiveStats`` at scrape."""

    def __init__(
        self, stats: LiveStats, prices: PriceBook | None, clock_s: Callable[[], float]
    ) -> None:
        self._stats = stats
        self._prices = prices
        self._clock_s = clock_s
        self._outcomes: Counter[str] = Counter()
        self._ttft = _Histogram()
        self._e2e = _Histogram()
        self._lag = _Histogram()
        self._cost_usd = 0.0
        self._unpriced = 0

    def observe(self, record: AttemptRecord) -> None:
        """One attempt record, as the run writes it."""
        self._outcomes[record.outcome] += 1
        if record.sent_s is None:
            return
        self._lag.observe(max(record.sent_s - record.scheduled_s, 0.0))
        if record.first_token_s is not None:
            self._ttft.observe(record.first_token_s - record.sent_s)
        if record.done_s is not None and record.outcome == "ok":
            self._e2e.observe(record.done_s - record.sent_s)
        billed = billed_tokens(
            record.outcome,
            record.prompt_tokens or 0,
            record.cached_tokens or 0,
            record.cache_write_tokens or 0,
            record.completion_tokens or 0,
        )
        if billed.prompt == 0 and billed.completion == 0:
            return
        price = (
            None
            if self._prices is None
            else self._prices.price_for(record.model, record.deployment)
        )
        if price is None:
            self._unpriced += 1
            return
        self._cost_usd += price.cost_usd(
            billed.prompt, billed.cached, billed.completion, billed.cache_write
        )

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        attempts = CounterMetricFamily(
            _PREFIX + "attempts", "Attempts recorded, by outcome.", labels=["outcome"]
        )
        for outcome, count in sorted(self._outcomes.items()):
            attempts.add_metric([outcome], count)
        yield attempts
        for name, value, text in (
            ("requests_done", stats.requests_done, "Requests whose last attempt has ended."),
            ("requests_failed", stats.requests_failed, "Requests whose last attempt failed."),
            ("requests_dropped", stats.dropped, "Requests never sent: too many in flight."),
            ("cost_usd", self._cost_usd, "Cost so far of priced attempts, in USD."),
            ("cost_unpriced_attempts", self._unpriced, "Billed attempts with no price."),
        ):
            yield CounterMetricFamily(_PREFIX + name, text, value=value)
        yield GaugeMetricFamily(_PREFIX + "in_flight", "Attempts in flight.", stats.in_flight)
        yield GaugeMetricFamily(
            _PREFIX + "run_clock_seconds", "Seconds since the run started.", self._clock_s()
        )
        yield self._ttft.family("ttft_seconds", "Time to first token of attempts.")
        yield self._e2e.family("e2e_seconds", "Time from send to last byte of ok attempts.")
        yield self._lag.family("schedule_lag_seconds", "How late attempts were sent.")


class LiveServer:
    """``LiveFigures`` served on ``host:port`` (port 0: any free one, see ``port``)."""

    def __init__(self, figures: LiveFigures, port: int, host: str = "127.0.0.1") -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(figures)
        self._server: WSGIServer
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
