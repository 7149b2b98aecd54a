"""The highest open-loop rate the asyncio engine holds on this machine (schedule lag p99 < 5 ms).

The mock runs pinned to core 0 (constant latency: TTFT 20 ms, 16 tokens 2 ms apart); the
engine, the client and the record writer run here, pinned to core 1, exactly as in a run
(uvloop, records appended to a file). For each rate in turn, a constant-rate plan of single
streamed requests is sent for ``--duration`` seconds; printed per rate: achieved rate,
schedule lag p50/p99, share of ok answers, and this process's CPU share.

    .venv/bin/python bench/engine_rate.py [--rates 100,200,400,800,1200] [--duration 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drive import drive
from pinning import pin_apart

from harness.contract.apis import OPENAI_CHAT
from harness.contract.records import PlannedMessage, PlannedRequest
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

LAG_LIMIT_MS = 5.0


def _plan(rate_rps: float, duration_s: float) -> list[PlannedRequest]:
    count = int(rate_rps * duration_s)
    return [
        PlannedRequest(
            request_id=f"s{i}-t1",
            session_id=f"s{i}",
            turn=1,
            offset_s=i / rate_rps,
            think_s=0.0,
            prompt_tokens=64,
            max_tokens=16,
            model="mock",
            api=OPENAI_CHAT,
            stream=True,
            messages=(PlannedMessage(role="user", tokens=64, seed=i % 50),),
            tags={},
        )
        for i in range(count)
    ]


def _one_rate(url: str, rate_rps: float, duration_s: float, folder: Path) -> dict[str, float]:
    return drive(
        url, _plan(rate_rps, duration_s), duration_s, folder / f"records-{rate_rps:g}.jsonl"
    ).row()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="100,200,400,800,1200")
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with (
        EmbeddedMock(constant_settings(20.0, 2.0, 16)) as mock,
        tempfile.TemporaryDirectory() as folder,
    ):
        mock_core, client_cores = pin_apart(mock.pid)
        print(
            f"constant-rate single streamed requests, {args.duration:g} s per rate; "
            f"mock on core {mock_core}, engine on cores {client_cores}"
        )
        print(
            f"{'target/s':>9} {'achieved/s':>11} {'lag p50 ms':>11} {'lag p99 ms':>11} "
            f"{'ok':>6} {'client CPU':>11}"
        )
        best = 0.0
        for rate in rates:
            row = _one_rate(mock.api_url, rate, args.duration, Path(folder))
            held = row["lag_p99"] < LAG_LIMIT_MS and row["ok_share"] > 0.99
            best = rate if held else best
            print(
                f"{rate:9.0f} {row['achieved']:11.1f} {row['lag_p50']:11.2f} "
                f"{row['lag_p99']:11.2f} {row['ok_share']:6.1%} {row['cpu_share']:11.0%}"
                f"{'' if held else '   <- not held'}"
            )
        print(f"highest rate held with schedule lag p99 < {LAG_LIMIT_MS:g} ms: {best:.0f}/s")


if __name__ == "__main__":
    main()
