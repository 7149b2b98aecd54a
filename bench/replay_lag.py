"""Schedule lag of a trace replay: a shared trace in, its rate and the engine's lag p50/p99 out.

The first ``--minutes`` of the trace (default the Azure conversation trace) are planned exactly
as ``tokenstorm run --trace`` plans them (every row one request, offsets divided by
``--time-scale``), then sent by the engine, pinned to one core, to an embedded mock in constant
mode (TTFT 20 ms, 16 tokens 2 ms apart) pinned to the other, with records appended to a file as
in a run. Printed per time scale: the planned rate, achieved rate, schedule lag p50/p99, share
of ok answers and this process's CPU share; issue 5 asks for lag p99 < 5 ms at the trace's rate
(time scale 1).

    .venv/bin/python bench/replay_lag.py [--trace FILE] [--minutes 1] [--time-scales 1,10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drive import drive
from pinning import pin_apart

from harness.contract.apis import OPENAI_CHAT
from harness.contract.distributions import BUNDLED_TRACES_DIR
from harness.contract.records import PlannedRequest
from harness.contract.traffic import Trace
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings
from workloads.traces import load_trace, replay_trace

LAG_LIMIT_MS = 5.0
DEFAULT_TRACE = BUNDLED_TRACES_DIR / "AzureLLMInferenceTrace_conv.csv"


def _plan(path: Path, minutes: float, time_scale: float) -> list[PlannedRequest]:
    trace = Trace(path=str(path), time_scale=time_scale, end=minutes * 60.0)
    rows = load_trace(path, trace.format, trace.columns)
    return replay_trace(rows, trace, seed=0, api=OPENAI_CHAT, model="mock", stream=True)


def _replay(
    url: str, plan: list[PlannedRequest], folder: Path
) -> tuple[dict[str, float], Counter[str]]:
    duration_s = plan[-1].offset_s + 0.001
    driven = drive(url, plan, duration_s, folder / "records.jsonl")
    return {"planned": len(plan) / duration_s, **driven.row()}, driven.outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="replay the trace's first MINUTES (trace time)"
    )
    parser.add_argument(
        "--time-scales", default="1,10", help="comma-separated speed-ups, each replayed in turn"
    )
    args = parser.parse_args()
    with (
        EmbeddedMock(constant_settings(20.0, 2.0, 16)) as mock,
        tempfile.TemporaryDirectory() as folder,
    ):
        mock_core, client_cores = pin_apart(mock.pid)
        print(
            f"replay of {args.trace.name}, first {args.minutes:g} min of trace time; "
            f"mock on core {mock_core}, engine on cores {client_cores}"
        )
        print(
            f"{'scale':>6} {'requests':>9} {'wall s':>7} {'trace/s':>8} {'achieved/s':>11} "
            f"{'lag p50 ms':>11} {'lag p99 ms':>11} {'ok':>6} {'client CPU':>11}"
        )
        for time_scale in (float(scale) for scale in args.time_scales.split(",")):
            plan = _plan(args.trace, args.minutes, time_scale)
            if not plan:
                print(f"{time_scale:6g}: no rows in the first {args.minutes:g} min")
                continue
            row, outcomes = _replay(mock.api_url, plan, Path(folder))
            held = row["lag_p99"] < LAG_LIMIT_MS and row["ok_share"] > 0.99
            print(
                f"{time_scale:6g} {len(plan):9d} {plan[-1].offset_s:7.1f} "
                f"{row['planned']:8.1f} {row['achieved']:11.1f} {row['lag_p50']:11.2f} "
                f"{row['lag_p99']:11.2f} {row['ok_share']:6.1%} {row['cpu_share']:11.0%}"
                f"{'' if held else f'   <- not held: {dict(outcomes)}'}"
            )


if __name__ == "__main__":
    main()
