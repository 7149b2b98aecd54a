"""The soak part of the reports: a summary's ``soak`` (and ``watch``) object in; the verdict
line, the trend, first-against-last and burst tables, the SUT leak line and one timeline chart
of the windows out. Readable at a glance: the first line says stable, degrading (and since
when) or too short."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.gates.soak_metrics import leak_verdicts, worst_leak
from harness.report import charts
from harness.report import formatting as fmt

TREND_HEADER = ("figure", "slope per hour", "95 % interval", "direction", "level")
FIRST_LAST_HEADER = ("figure", "first", "last", "difference", "95 % interval", "p", "significant")
#: Fewest windows a run needs for its report to show a soak section (5 min at 1 min windows).
MIN_SHOWN_WINDOWS = 5
_TRENDS = (
    ("ttft_ms_p99", "TTFT p99", "ms"),
    ("e2e_ms_p99", "E2E p99", "ms"),
    ("error_rate", "error rate", "share"),
)


def duration(seconds: Any) -> str:
    """A run-clock time or span as minutes or hours (``—`` when unknown)."""
    if not isinstance(seconds, int | float):
        return fmt.MISSING
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"


def _figure(value: Any, unit: str, signed: bool = False) -> str:
    if not isinstance(value, int | float):
        return fmt.MISSING
    if unit == "share":
        return f"{value:+.2%}" if signed else fmt.share(value)
    return f"{value:+,.1f} ms" if signed else fmt.ms(value)


def _headline(soak: Mapping[str, Any]) -> tuple[str, str]:
    verdict = soak.get("verdict")
    if verdict == "degrading":
        since = soak.get("since_s")
        when = "gradually, no single start" if since is None else f"since {duration(since)}"
        rising = [
            f"{label} {_figure(t.get('per_hour'), unit, True)}/h"
            for key, label, unit in _TRENDS
            if isinstance(t := (soak.get("trends") or {}).get(key), Mapping)
            and t.get("direction") == "rising"
        ]
        return "bad", f"Soak: degrading {when} ({', '.join(rising)})"
    if verdict == "stable":
        span = sum(float(w.get("span_s") or 0.0) for w in soak.get("windows") or ())
        return "good", f"Soak: stable over {duration(span)} (no rising trend)"
    return "muted", f"Soak: {soak.get('reason') or 'no verdict'}"


def _trend_rows(soak: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for key, label, unit in _TRENDS:
        trend = (soak.get("trends") or {}).get(key)
        if not isinstance(trend, Mapping):
            continue
        low, high = _figure(trend.get("low"), unit, True), _figure(trend.get("high"), unit, True)
        rows.append(
            (
                label,
                _figure(trend.get("per_hour"), unit, True),
                f"{low} to {high}",
                str(trend.get("direction")),
                _figure(trend.get("level"), unit),
            )
        )
    return rows


def _p_value(value: Any) -> str:
    """A bootstrap p-value; 0 means below one in the 1000 resamples, as compare prints it."""
    if not isinstance(value, int | float):
        return fmt.MISSING
    return "< 0.001" if value == 0 else f"{value:.3g}"


def _first_last_rows(soak: Mapping[str, Any]) -> list[tuple[str, ...]]:
    found = soak.get("first_last")
    if not isinstance(found, Mapping):
        return []
    rows: list[tuple[str, ...]] = []
    for key, label, unit in _TRENDS:
        diff = found.get(key)
        if not isinstance(diff, Mapping) or diff.get("difference") is None:
            continue
        low, high = _figure(diff.get("low"), unit, True), _figure(diff.get("high"), unit, True)
        rows.append(
            (
                label,
                _figure(diff.get("first"), unit),
                _figure(diff.get("last"), unit),
                _figure(diff.get("difference"), unit, True),
                f"{low} to {high}",
                _p_value(diff.get("p_value")),
                "yes" if diff.get("significant") else "no",
            )
        )
    return rows


def _bursts(soak: Mapping[str, Any]) -> str | None:
    bursts = soak.get("bursts")
    if not isinstance(bursts, Mapping):
        return None
    p_value = bursts.get("p_value")
    if bursts.get("periodic"):
        return (
            f"Periodic error bursts every {duration(bursts.get('period_s'))} "
            f"({duration(bursts.get('low_s'))} to {duration(bursts.get('high_s'))}), "
            f"p = {p_value:.3g}"
        )
    return f"No periodic error bursts (strongest period p = {p_value:.3g})"


def _leak(summary: Mapping[str, Any]) -> str | None:
    """The fastest-growing watched memory series, its interval and verdict, in MB/h."""
    verdict = worst_leak(summary.get("watch"))
    if verdict is None:
        return None
    rate = float(verdict["bytes_per_hour"]) / 1e6
    ends = verdict.get("ci95_bytes_per_hour") or (verdict.get("low"), verdict.get("high"))
    low, high = [*ends, None, None][:2]
    interval = (
        f" (95 %: {float(low) / 1e6:+,.1f} to {float(high) / 1e6:+,.1f} MB/h)"
        if isinstance(low, int | float) and isinstance(high, int | float)
        else ""
    )
    said = verdict.get("verdict")
    count = len(leak_verdicts(summary.get("watch")))
    more = f"; fastest of {count} watched series" if count > 1 else ""
    return (
        f"SUT resident memory: {rate:+,.1f} MB/h{interval}"
        + (f", {said}" if said else "")
        + _second_half(verdict)
        + more
    )


def _second_half(verdict: Mapping[str, Any]) -> str:
    """What the second half of the watch says of memory that grew over the whole of it."""
    late = verdict.get("second_half")
    settled = verdict.get("settled")
    if not isinstance(late, Mapping) or not isinstance(settled, bool):
        return ""
    rate = float(late["bytes_per_hour"]) / 1e6
    low, high = (float(end) / 1e6 for end in late["ci95_bytes_per_hour"])
    figure = f"{rate:+,.1f} MB/h (95 %: {low:+,.1f} to {high:+,.1f})"
    if settled:
        return f"; over the second half {figure}, {late['verdict']}: it grew, then held"
    return f"; still growing over the second half: {figure}"


def soak_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The ``soak`` entry of the report context (empty when the summary has none)."""
    soak = summary.get("soak")
    if not isinstance(soak, Mapping) or len(soak.get("windows") or ()) < MIN_SHOWN_WINDOWS:
        return {"soak": None}
    tone, headline = _headline(soak)
    span = f"{len(soak.get('windows') or ())} windows of {duration(soak.get('window_s'))}"
    return {
        "soak": {
            "tone": tone,
            "headline": headline,
            "windows": span,
            "trend_header": TREND_HEADER,
            "trends": _trend_rows(soak),
            "first_last_span": duration(
                (soak.get("first_last") or {}).get("span_s")
                if isinstance(soak.get("first_last"), Mapping)
                else None
            ),
            "first_last_header": FIRST_LAST_HEADER,
            "first_last": _first_last_rows(soak),
            "bursts": _bursts(soak),
            "leak": _leak(summary),
        }
    }


def _series(windows: list[Mapping[str, Any]], key: str, inner: str | None) -> list[float]:
    values = []
    for window in windows:
        value = window.get(key)
        value = value.get(inner) if inner and isinstance(value, Mapping) else value
        values.append(float(value) if isinstance(value, int | float) else float("nan"))
    return values


def soak_chart(summary: Mapping[str, Any]) -> str | None:
    """Window p50/p99 of TTFT and E2E, error rate and requests/s against run time, with the
    start of a degradation marked."""
    soak = summary.get("soak")
    windows = list(soak.get("windows") or ()) if isinstance(soak, Mapping) else []
    if len(windows) < MIN_SHOWN_WINDOWS:
        return None
    since = soak.get("since_s") if isinstance(soak, Mapping) else None
    hours = windows[-1]["start_s"] >= 3 * 3600
    scale, unit = (3600.0, "h") if hours else (60.0, "min")
    times = [(float(w["start_s"]) + float(w["span_s"]) / 2) / scale for w in windows]
    panels = (
        ("TTFT (ms)", (("ttft_ms", "p50"), ("ttft_ms", "p99"))),
        ("E2E (ms)", (("e2e_ms", "p50"), ("e2e_ms", "p99"))),
        ("error rate (attempts)", (("error_rate", None),)),
        ("requests/s", (("requests_per_s", None),)),
    )

    def draw(figure: Any) -> None:
        from matplotlib.ticker import PercentFormatter

        axes = figure.subplots(2, 2, sharex=True)
        for ax, (title, lines) in zip(axes.flat, panels, strict=True):
            for key, inner in lines:
                ax.plot(times, _series(windows, key, inner), "o-", markersize=2, label=inner or key)
            if isinstance(since, int | float):
                ax.axvline(
                    since / scale,
                    color="#c62828",
                    linestyle="--",
                    linewidth=1,
                    label="degrading since",
                )
            ax.set_title(title)
            if len(lines) > 1:
                ax.legend(loc="upper left", fontsize=7)
        axes[1][0].yaxis.set_major_formatter(PercentFormatter(1.0))
        for ax in axes[1]:
            ax.set_xlabel(f"run time ({unit})")

    return charts.render_svg("soak-windows", draw, height_in=4.6)
