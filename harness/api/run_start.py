"""The run-start message a run sends its tokenstorm mock or proxy (``POST /tokenstorm/runs``):
a run id and the run clock's reading in, JSON bytes out, and back; so the upstream times
fault windows on the run's own clock, not from whichever request reaches it first."""

from __future__ import annotations

import math
from typing import Final

import orjson

RUNS_ROUTE: Final = "/tokenstorm/runs"


def run_start_body(run_id: str, run_clock_s: float) -> bytes:
    """``{"run_id": ..., "run_clock_s": ...}``: the run's clock read ``run_clock_s`` as sent."""
    return orjson.dumps({"run_id": run_id, "run_clock_s": run_clock_s})


def read_run_start(raw: bytes) -> tuple[str, float]:
    """The run id and clock reading of a run-start body; ``ValueError`` for a 400."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError(f"POST {RUNS_ROUTE}: send a JSON object") from None
    if not isinstance(document, dict):
        raise ValueError(f"POST {RUNS_ROUTE}: send a JSON object")
    run_id, clock_s = document.get("run_id"), document.get("run_clock_s")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"POST {RUNS_ROUTE}: run_id: a non-empty string is required")
    if isinstance(clock_s, bool) or not isinstance(clock_s, int | float):
        raise ValueError(f"POST {RUNS_ROUTE}: run_clock_s: a number of seconds is required")
    if not math.isfinite(clock_s) or clock_s < 0:
        raise ValueError(f"POST {RUNS_ROUTE}: run_clock_s: must be finite and not negative")
    return run_id, float(clock_s)
