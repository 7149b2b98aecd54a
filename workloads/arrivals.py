"""Session arrival processes: a scenario ``Arrival``, a duration and an RNG in, the start
offsets (seconds from run start) of every session out.

Each process is a pure function of its parameters and the RNG. Draws are consumed in order,
so a longer duration with the same RNG seed yields the shorter run's offsets as a prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from harness.contract.traffic import Arrival
from workloads.arrival_shapes import cumulative_rate, warp

_Process = Callable[[float, float, np.random.Generator], list[float]]
_PROCESSES: dict[str, _Process] = {}


def _process(name: str) -> Callable[[_Process], _Process]:
    def register(function: _Process) -> _Process:
        _PROCESSES[name] = function
        return function

    return register


@_process("constant")
def _constant(rate_per_s: float, duration_s: float, rng: np.random.Generator) -> list[float]:
    # i / rate (not a running sum) keeps every point exactly on the grid, however long the run.
    offsets: list[float] = []
    index = 0
    while (offset_s := index / rate_per_s) < duration_s:
        offsets.append(offset_s)
        index += 1
    return offsets


@_process("poisson")
def _poisson(rate_per_s: float, duration_s: float, rng: np.random.Generator) -> list[float]:
    mean_gap_s = 1.0 / rate_per_s
    expected = rate_per_s * duration_s
    # Draw gaps in vectorised chunks sized to cover the run with high probability; the
    # generator yields the same sequence whatever the chunk sizes, so this stays exact.
    chunk = int(expected + 5.0 * math.sqrt(expected)) + 16
    offsets: list[float] = []
    last_s = 0.0
    while True:
        # Accumulate from last_s inside cumsum (a strictly sequential sum) so the floats are
        # identical to one long cumsum, whatever the chunk boundaries.
        gaps_s = rng.exponential(mean_gap_s, size=chunk)
        times_s = np.cumsum(np.concatenate(([last_s], gaps_s)))[1:]
        inside = int(np.searchsorted(times_s, duration_s, side="left"))
        offsets.extend(float(t) for t in times_s[:inside])
        if inside < chunk:
            return offsets
        last_s = float(times_s[-1])


@_process("gamma")
def _gamma(
    rate_per_s: float, duration_s: float, rng: np.random.Generator, cv: float = 1.0
) -> list[float]:
    return _renewal(rate_per_s, duration_s, rng, cv)


def _renewal(
    rate_per_s: float, duration_s: float, rng: np.random.Generator, cv: float
) -> list[float]:
    # Gamma gaps of mean 1/rate and coefficient of variation cv (shape 1/cv^2); drawn in
    # chunks the way _poisson does, so the offsets do not depend on the chunk size.
    shape = 1.0 / (cv * cv)
    scale = 1.0 / (rate_per_s * shape)
    expected = rate_per_s * duration_s
    chunk = int(expected + 5.0 * cv * math.sqrt(expected)) + 16
    offsets: list[float] = []
    last_s = 0.0
    while True:
        gaps_s = rng.gamma(shape, scale, size=chunk)
        times_s = np.cumsum(np.concatenate(([last_s], gaps_s)))[1:]
        inside = int(np.searchsorted(times_s, duration_s, side="left"))
        offsets.extend(float(t) for t in times_s[:inside])
        if inside < chunk:
            return offsets
        last_s = float(times_s[-1])


def arrival_processes() -> tuple[str, ...]:
    """The names of the open-loop arrival processes this module knows (the closed loop,
    ``concurrency``, has no offsets: ``workloads.closed_loop``)."""
    return tuple(sorted(_PROCESSES))


def _unshaped(
    arrival: Arrival, rate_per_s: float, duration_s: float, rng: np.random.Generator
) -> list[float]:
    if arrival.process == "gamma":
        return _renewal(rate_per_s, duration_s, rng, arrival.cv)
    return _PROCESSES[arrival.process](rate_per_s, duration_s, rng)


def session_offsets_s(arrival: Arrival, duration_s: float, rng: np.random.Generator) -> list[float]:
    """Start offsets in ``[0, duration_s)``, non-decreasing.

    ``constant``: exactly ``0, 1/rate, 2/rate, ...``; ``poisson``: exponential gaps of mean
    ``1/rate`` (the first session arrives one gap after 0, not at 0); ``gamma``: gamma gaps of
    mean ``1/rate`` and coefficient of variation ``cv``. With ``shape``s, the process runs at
    unit rate in "expected arrivals" time and is warped onto the shaped rate
    (``workloads.arrival_shapes``): the local rate is ``rate * multiplier(t)``, the burstiness
    of the gaps is kept.
    """
    if arrival.process not in _PROCESSES:
        raise ValueError(f"{arrival.process!r} is not an open-loop arrival process")
    if duration_s <= 0 or arrival.rate <= 0:
        return []
    if not arrival.shape:
        return _unshaped(arrival, arrival.rate, duration_s, rng)
    _, totals = cumulative_rate(arrival.shape, arrival.rate, duration_s)
    horizon = float(totals[-1])
    if horizon <= 0:
        return []
    unit = np.asarray(_unshaped(arrival, 1.0, horizon, rng), dtype=float)
    return warp(unit, arrival.shape, arrival.rate, duration_s)


#: Gaps drawn at once by ``iter_session_offsets_s`` (any size gives the same offsets).
_STREAM_CHUNK = 4096


def _unshaped_chunks(
    arrival: Arrival, rate_per_s: float, duration_s: float, rng: np.random.Generator
) -> Iterator[list[float]]:
    """The unshaped process's offsets in ``[0, duration_s)`` (``inf``: endless), chunk by
    chunk, equal to ``_unshaped``'s list: the draws and the sequential sums are the same."""
    if arrival.process == "constant":
        index = 0
        while True:
            chunk = [i / rate_per_s for i in range(index, index + _STREAM_CHUNK)]
            inside = [offset_s for offset_s in chunk if offset_s < duration_s]
            yield inside
            if len(inside) < _STREAM_CHUNK:
                return
            index += _STREAM_CHUNK
    last_s = 0.0
    while True:
        if arrival.process == "gamma":
            shape = 1.0 / (arrival.cv * arrival.cv)
            gaps_s = rng.gamma(shape, 1.0 / (rate_per_s * shape), size=_STREAM_CHUNK)
        else:
            gaps_s = rng.exponential(1.0 / rate_per_s, size=_STREAM_CHUNK)
        times_s = np.cumsum(np.concatenate(([last_s], gaps_s)))[1:]
        inside_count = int(np.searchsorted(times_s, duration_s, side="left"))
        yield [float(t) for t in times_s[:inside_count]]
        if inside_count < _STREAM_CHUNK:
            return
        last_s = float(times_s[-1])


def iter_session_offsets_s(
    arrival: Arrival, duration_s: float, rng: np.random.Generator
) -> Iterator[float]:
    """``session_offsets_s`` one offset at a time, in bounded memory: the same offsets for the
    same RNG. ``duration_s`` may be ``inf`` for an unshaped process (endless; the caller stops
    drawing)."""
    if arrival.process not in _PROCESSES:
        raise ValueError(f"{arrival.process!r} is not an open-loop arrival process")
    if duration_s <= 0 or arrival.rate <= 0:
        return
    if not arrival.shape:
        for chunk in _unshaped_chunks(arrival, arrival.rate, duration_s, rng):
            yield from chunk
        return
    _, totals = cumulative_rate(arrival.shape, arrival.rate, duration_s)
    horizon = float(totals[-1])
    if horizon <= 0:
        return
    for chunk in _unshaped_chunks(arrival, 1.0, horizon, rng):
        # The warp maps each arrival on its own, so chunk by chunk gives the same offsets.
        yield from warp(np.asarray(chunk, dtype=float), arrival.shape, arrival.rate, duration_s)
