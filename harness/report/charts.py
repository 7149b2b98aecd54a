"""Report charts: attempt records in, inline SVG markup (or None when there is no data) out.

matplotlib is imported inside ``_render`` so that importing the report or metrics packages
stays fast. Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot, so
no GUI backend or global figure registry is involved; text stays text in the SVG
(``svg.fonttype = 'none'``) to keep it small, and element ids are deterministic and prefixed
per chart so that several charts can live in one HTML page.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from harness.contract.records import AttemptRecord
from harness.metrics import latency as lat
from harness.report import series
from harness.report.windows import Span

OUTCOME_COLOURS: dict[str, str] = {
    "ok": "#2e7d32",
    "http_429": "#f9a825",
    "http_4xx": "#8d6e63",
    "http_5xx": "#c62828",
    "timeout_connect": "#6a1b9a",
    "timeout_first_token": "#8e24aa",
    "timeout_stream": "#ab47bc",
    "stream_cut": "#00838f",
    "stream_error": "#d84315",
    "reset": "#ad1457",
    "connect_error": "#4527a0",
    "protocol_error": "#5d4037",
    "dropped": "#616161",
    "cancelled": "#9e9e9e",
}
P50_P99 = (("p50", 0.50), ("p99", 0.99))
_PREAMBLE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|href="#)([^)"]+)')


def _render(name: str, draw: Callable[[Any], None], height_in: float = 3.2) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    settings: dict[Any, Any] = {
        "svg.fonttype": "none",
        "svg.hashsalt": f"tokenstorm-{name}",
        "font.size": 9,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
    with matplotlib.rc_context(settings):
        figure = Figure(figsize=(8.0, height_in), layout="constrained")
        draw(figure)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    # The XML preamble, the metadata block and the namespace declarations all carry URLs
    # that inline SVG in HTML5 does not need; dropping them keeps the page free of any
    # external-looking reference and a little smaller.
    svg = _PREAMBLE.sub("", buffer.getvalue(), count=1)
    svg = _METADATA.sub("", svg, count=1)
    head, rest = svg.split(">", 1)
    svg = _NAMESPACES.sub("", head) + ">" + rest
    # Every chart names its elements figure_1, axes_1, ...: prefix ids and references so
    # that the charts of one page neither clash nor clip each other.
    svg = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', svg)
    return _REFERENCE.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", svg)


def render_svg(name: str, draw: Callable[[Any], None], height_in: float = 3.2) -> str:
    """Inline SVG of a figure ``draw`` fills (ids prefixed with ``name``)."""
    return _render(name, draw, height_in)


def _shade(ax: Any, windows: Sequence[Span], end_s: float) -> None:
    """Shade fault windows on a time axis (once in the legend)."""
    for index, (start_s, stop_s, _label) in enumerate(windows):
        ax.axvspan(
            start_s,
            end_s if stop_s is None else stop_s,
            color="#ffb74d",
            alpha=0.25,
            linewidth=0,
            label="fault window" if index == 0 else None,
        )


def _times_and_width(records: Sequence[AttemptRecord]) -> float:
    return series.bin_width_s(series.span_s(records))


def latency_over_time(records: Sequence[AttemptRecord], windows: Sequence[Span] = ()) -> str | None:
    """p50 and p99 of TTFT and E2E of successful attempts per time bin, by send time."""
    ttft = series.samples_ms(records, lat.ttft_s)
    e2e = series.samples_ms(records, lat.e2e_s)
    if not ttft[0] and not e2e[0]:
        return None
    width = _times_and_width(records)

    def draw(figure: Any) -> None:
        axes = figure.subplots(1, 2, sharex=True)
        for ax, (label, (times, values)) in zip(axes, (("TTFT", ttft), ("E2E", e2e)), strict=True):
            binned = series.binned_quantiles(times, values, width, P50_P99)
            _shade(ax, windows, series.span_s(records))
            for name, style in (("p50", "o-"), ("p99", "s--")):
                ax.plot(
                    binned.starts_s,
                    binned.values[name],
                    style,
                    markersize=2.5,
                    linewidth=1.2,
                    label=f"{label} {name}",
                )
            ax.set_title(f"{label} per {width:g} s bin (successful attempts)")
            ax.set_xlabel("send time (s)")
            ax.set_ylabel("ms")
            ax.legend(loc="upper left", fontsize=7)

    return _render("latency-over-time", draw)


def _log_x_plain_labels(ax: Any) -> None:
    """Log x axis labelled 50, 100, 200 rather than in powers-of-ten notation."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _: int) -> str:
        return f"{value:g}"

    def minor_label(value: float, _: int) -> str:
        mantissa = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0.0
        return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2, 5)) else ""

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor_label))


def latency_cdf(records: Sequence[AttemptRecord]) -> str | None:
    """Cumulative distributions of TTFT and E2E of successful attempts."""
    metrics = (("TTFT", lat.ttft_s), ("E2E", lat.e2e_s))
    samples = [(label, series.samples_ms(records, metric)[1]) for label, metric in metrics]
    if not any(values for _, values in samples):
        return None

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        for label, values in samples:
            if values:
                xs, ys = series.cdf_points(values)
                ax.step(xs, ys, where="post", label=label)
        if all(v > 0 for _, values in samples for v in values):
            _log_x_plain_labels(ax)
        ax.set_xlabel("ms")
        ax.set_ylabel("share of attempts")
        ax.set_title("TTFT and E2E distribution (CDF)")
        ax.legend(loc="lower right")

    return _render("latency-cdf", draw)


def itl_histogram(records: Sequence[AttemptRecord]) -> str | None:
    """Histogram of every inter-token gap of every successful stream (pooled)."""
    gaps_ms = [gap * 1000.0 for r in records if lat.is_ok(r) for gap in lat.itl_gaps_s(r)]
    if not gaps_ms:
        return None

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        ax.hist(gaps_ms, bins=60, color="#1565c0")
        ax.set_xlabel("inter-token latency (ms)")
        ax.set_ylabel("gaps")
        ax.set_title(f"ITL distribution ({len(gaps_ms):,} gaps)")

    return _render("itl", draw, height_in=2.8)


def outcomes_over_time(
    records: Sequence[AttemptRecord], windows: Sequence[Span] = ()
) -> str | None:
    """Stacked attempt outcomes per time bin, with the attempts that carried a fault."""
    if not records:
        return None
    width = _times_and_width(records)
    times = [series.event_time_s(r) for r in records]
    binned = series.binned_counts(times, [r.outcome for r in records], width)
    fault_times = [series.event_time_s(r) for r in records if r.fault]
    faults = series.binned_counts(fault_times, ["fault"] * len(fault_times), width)

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        _shade(ax, windows, series.span_s(records))
        bottom = None
        # Failures at the bottom, where a reader's eye lands, in the closed-set order.
        order = {name: i for i, name in enumerate(OUTCOME_COLOURS)}
        ranked = sorted(binned.values, key=lambda o: (o == "ok", order.get(o, len(order)), o))
        for outcome in ranked:
            counts = binned.values[outcome]
            ax.bar(
                binned.starts_s,
                counts,
                width=width,
                align="edge",
                bottom=bottom,
                label=outcome,
                color=OUTCOME_COLOURS.get(outcome, "#37474f"),
            )
            bottom = counts if bottom is None else bottom + counts
        if faults.starts_s.size:
            ax.plot(
                faults.starts_s + width / 2,
                faults.values["fault"],
                "k.:",
                linewidth=1,
                label="fault injected",
            )
        ax.set_xlabel("send time (s)")
        ax.set_ylabel(f"attempts per {width:g} s")
        ax.set_title("Attempt outcomes over time")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)

    return _render("outcomes", draw)


def schedule_lag_over_time(
    records: Sequence[AttemptRecord], limit_ms: float | None = None, windows: Sequence[Span] = ()
) -> str | None:
    """p99 and max schedule lag of sent attempts per time bin, with the validity limit."""
    times, lags = series.samples_ms(records, lat.schedule_lag_s, only_ok=False)
    if not times:
        return None
    width = _times_and_width(records)
    binned = series.binned_quantiles(times, lags, width, (("p99", 0.99), ("max", 1.0)))

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        _shade(ax, windows, series.span_s(records))
        ax.plot(binned.starts_s, binned.values["p99"], "o-", markersize=2.5, label="p99")
        ax.plot(binned.starts_s, binned.values["max"], "x:", markersize=3, label="max")
        if limit_ms is not None:
            ax.axhline(limit_ms, color="#c62828", linewidth=1, label="validity limit (p99)")
        ax.set_xlabel("scheduled time (s)")
        ax.set_ylabel("ms")
        ax.set_title("Schedule lag (how late the client sent)")
        ax.legend(loc="upper left", fontsize=7)

    return _render("schedule-lag", draw, height_in=2.8)
