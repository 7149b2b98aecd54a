"""The leak verdict: a memory series (run-clock seconds, bytes) in; its growth in bytes per hour
with a 95 % confidence interval, and a verdict, out. Pure: no file, no clock.

The slope is the ordinary least-squares fit of bytes on time. Memory readings are serially
correlated (a heap that grows stays grown), which makes the textbook interval too narrow; the
standard error is widened by the lag-1 autocorrelation of the residuals,
``sqrt((1 + r) / (1 - r))`` for ``r > 0`` (the AR(1) effective-sample-size correction, ``r``
capped at 0.99), and the interval uses Student's t on the effective sample's degrees of
freedom. A series that wanders like a random walk still reads as growing or shrinking about
a third of the time: over the watched span it did grow or shrink, and only a longer watch
tells a walk from a leak.

Verdicts (a closed set): ``growing`` when the whole interval is above 0, ``shrinking`` when it
is below 0, ``stable`` when it holds 0, ``unknown`` with fewer than ``MIN_POINTS`` readings or
less than ``MIN_SPAN_S`` between the first and the last (never a guess).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

MIN_POINTS = 8
MIN_SPAN_S = 60.0
_Z_975 = 1.959963984540054
VERDICTS = ("growing", "shrinking", "stable", "unknown")


def t_quantile_975(dof: int) -> float:
    """Student's t 97.5 % quantile: the table for 1 and 2 degrees of freedom, else the
    Cornish-Fisher expansion (within 1 % from 3, 0.1 % from 10)."""
    if dof <= 2:
        return 12.706205 if dof <= 1 else 4.302653
    z = _Z_975
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def leak_verdict(times_s: Sequence[float], values: Sequence[float]) -> dict[str, Any]:
    """Growth of ``values`` (bytes) over ``times_s`` in bytes per hour, with its interval and
    verdict; and ``second_half``, the same over the readings of the span's second half.

    A heap that grows while a process warms up (caches and pools filling to their bounds)
    and then holds reads as ``growing`` over the whole span; its second half says whether
    it still grew at the end. ``settled`` is true when the whole span grew but the second
    half did not, false when both grew, and absent otherwise.
    """
    whole = _fit(times_s, values)
    if whole["verdict"] == "unknown":
        return whole
    t = np.asarray(times_s, dtype=float)
    middle_s = float(np.nanmin(t) + np.nanmax(t)) / 2.0
    late = [i for i, at in enumerate(times_s) if at >= middle_s]
    second = _fit([times_s[i] for i in late], [values[i] for i in late])
    whole["second_half"] = {
        key: second[key]
        for key in ("points", "span_s", "verdict", "bytes_per_hour", "ci95_bytes_per_hour")
    }
    if whole["verdict"] == "growing" and second["verdict"] != "unknown":
        whole["settled"] = second["verdict"] != "growing"
    return whole


def _fit(times_s: Sequence[float], values: Sequence[float]) -> dict[str, Any]:
    """Growth of ``values`` (bytes) over ``times_s`` in bytes per hour, with its interval."""
    t = np.asarray(times_s, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    n = len(t)
    span_s = float(t.max() - t.min()) if n else 0.0
    out: dict[str, Any] = {
        "points": n,
        "span_s": round(span_s, 3),
        "first_bytes": float(y[0]) if n else None,
        "last_bytes": float(y[-1]) if n else None,
    }
    if n < MIN_POINTS or span_s < MIN_SPAN_S:
        return {
            **out,
            "verdict": "unknown",
            "why": f"needs {MIN_POINTS} readings over {MIN_SPAN_S:g} s at least",
            "bytes_per_hour": None,
            "ci95_bytes_per_hour": None,
        }
    hours = (t - t.mean()) / 3600.0
    slope = float(np.dot(hours, y - y.mean()) / np.dot(hours, hours))
    residuals = y - y.mean() - slope * hours
    dof = n - 2
    variance = float(np.dot(residuals, residuals)) / dof
    standard_error = math.sqrt(variance / float(np.dot(hours, hours)))
    r = _lag1(residuals)
    widen = math.sqrt((1 + r) / (1 - r)) if r > 0 else 1.0
    # Student's t on the effective sample size's degrees of freedom (at least 1).
    effective_dof = max(1, round(n / widen**2) - 2)
    half = t_quantile_975(effective_dof) * standard_error * widen
    low, high = slope - half, slope + half
    verdict = "growing" if low > 0 else "shrinking" if high < 0 else "stable"
    mean_bytes = float(y.mean())
    return {
        **out,
        "verdict": verdict,
        "bytes_per_hour": slope,
        "ci95_bytes_per_hour": [low, high],
        "share_per_hour": slope / mean_bytes if mean_bytes > 0 else None,
        "residual_lag1_autocorrelation": r,
    }


def _lag1(residuals: np.ndarray) -> float:
    """Lag-1 autocorrelation of the residuals, kept below 1 (0 when they do not vary)."""
    denominator = float(np.dot(residuals, residuals))
    if denominator <= 0 or len(residuals) < 3:
        return 0.0
    r = float(np.dot(residuals[:-1], residuals[1:])) / denominator
    return min(r, 0.99)


#: The series a leak verdict is given for.
MEMORY_SERIES = "process_resident_memory_bytes"


def watch_summary(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``summary.json``'s ``watch``: per watched URL, its scrapes, failed scrapes, series seen
    and gone, and a leak verdict for each ``process_resident_memory_bytes`` series."""
    urls: dict[str, dict[str, Any]] = {}
    memory: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for line in lines:
        url = str(line.get("url"))
        entry = urls.setdefault(
            url, {"scrapes": set(), "failed_scrapes": 0, "series": set(), "gone": set()}
        )
        t_s = float(line.get("t_s", 0.0))
        entry["scrapes"].add(t_s)
        if "error" in line:
            entry["failed_scrapes"] += 1
            entry["last_error"] = str(line["error"])
            continue
        series = str(line.get("series"))
        if line.get("gone"):
            entry["gone"].add(series)
            continue
        entry["series"].add(series)
        if line.get("name") == MEMORY_SERIES:
            times, values = memory.setdefault((url, series), ([], []))
            times.append(t_s)
            values.append(float(line["value"]))
    out: dict[str, Any] = {}
    for url, entry in urls.items():
        out[url] = {
            "scrapes": len(entry["scrapes"]),
            "failed_scrapes": entry["failed_scrapes"],
            "series": len(entry["series"]),
            "gone": sorted(entry["gone"])[:20],
            "leak": {
                series: leak_verdict(times, values)
                for (leak_url, series), (times, values) in memory.items()
                if leak_url == url
            },
        }
        if "last_error" in entry:
            out[url]["last_error"] = entry["last_error"]
    return {"file": "watch.jsonl", "urls": out}
