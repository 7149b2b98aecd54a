"""The progress display while a run goes: elapsed time, rate achieved vs planned, errors.

Reads the engine's ``LiveStats`` twice a second and redraws one status line on stderr (a
terminal) or prints a plain line every ``quiet_every_s`` seconds (CI logs). Never on stdout,
which carries the summary.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from harness.engine_config import LiveStats


def status_line(
    stats: LiveStats, elapsed_s: float, duration_s: float | None, planned: int | None
) -> str:
    """One status line; a duration or plan size not known ahead (the closed loop) is left out."""
    rate = stats.sent / elapsed_s if elapsed_s > 0 else 0.0
    ttft = "-" if stats.last_ttft_s is None else f"{stats.last_ttft_s * 1000:.0f} ms"
    clock = (
        f"{elapsed_s:5.1f} s"
        if duration_s is None
        else f"{min(elapsed_s, duration_s):5.1f}/{duration_s:.0f} s"
    )
    sent = f"{stats.sent}" if planned is None else f"{stats.sent}/{planned}"
    return (
        f"{clock}  sent {sent}  "
        f"{rate:6.1f} req/s  in flight {stats.in_flight}  ok {stats.ok}  "
        f"failed attempts {stats.failed_attempts}  last TTFT {ttft}"
    )


async def show_progress(
    stats: LiveStats,
    clock_s: Callable[[], float],
    duration_s: float | None,
    planned: int | None,
    stream: TextIO | None = None,
    quiet_every_s: float = 5.0,
) -> None:
    """Runs until cancelled; the caller cancels it when the engine returns."""
    out = stream or sys.stderr
    interactive = out.isatty()
    last_plain_s = 0.0
    try:
        while True:
            await asyncio.sleep(0.5)
            elapsed_s = clock_s()
            line = status_line(stats, elapsed_s, duration_s, planned)
            if interactive:
                out.write("\r\x1b[2K" + line)
                out.flush()
            elif elapsed_s - last_plain_s >= quiet_every_s:
                last_plain_s = elapsed_s
                out.write(line + "\n")
                out.flush()
    finally:
        if interactive:
            out.write("\r\x1b[2K")
            out.flush()
