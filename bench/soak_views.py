"""Soak views on a long run: time to feed records into the windows and to judge the trends, and
the memory the windows hold, beside the time to merely build the same records.

Records are synthesised one at a time (a day of traffic by default, ITL growing 0.05 % a
minute) and never held in a list, so the resident-memory growth is what the time slicer keeps
(about 17 bytes per attempt: TTFT and E2E as 8-byte floats, one byte of outcome). Printed:
CPU microseconds per record (``time.process_time``, so other load on the machine does not
count) to build it alone and to build and add it (with prices), the CPU seconds
``soak_section`` takes on the finished windows, the growth of peak RSS after the windows are
filled and after they are judged (the synthesiser's own arrays are built by the first pass, so
the peak before feeding already holds them), the bytes of samples the windows hold, and the
verdict.

    .venv/bin/python bench/soak_views.py [--records 1000000] [--hours 24]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from harness.contract.records import AttemptRecord
from harness.cost import load_price_book
from harness.stats.soak import soak_section
from harness.stats.timeslices import TimeSlicer


def _records(count: int, hours: float, seed: int = 1) -> Iterator[AttemptRecord]:
    rng = np.random.default_rng(seed)
    step_s = hours * 3600.0 / count
    noise = rng.standard_normal(count)
    failing = rng.random(count) < 0.01
    for index in range(count):
        sent_s = index * step_s
        ttft_s = 0.06 * (1.0 + 0.1 * noise[index])
        e2e_s = ttft_s + 0.6 * 1.0005 ** (sent_s / 60.0)
        ok = not failing[index]
        yield AttemptRecord(
            request_id=f"q{index}",
            session_id=f"q{index}",
            turn=1,
            attempt=1,
            scheduled_s=sent_s,
            sent_s=sent_s,
            first_byte_s=sent_s + ttft_s,
            first_token_s=sent_s + ttft_s if ok else None,
            done_s=sent_s + e2e_s,
            status_code=200 if ok else 500,
            outcome="ok" if ok else "http_5xx",
            prompt_tokens=200,
            completion_tokens=48 if ok else 0,
            cached_tokens=None,
            usage_source="server",
            model="mock-gpt",
            deployment="mock-gpt",
            error_detail=None,
        )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    duration_s = args.hours * 3600.0

    began = time.process_time()
    for _ in _records(args.records, args.hours):
        pass
    build_s = time.process_time() - began

    rss_before = _peak_rss_mb()
    slicer = TimeSlicer(duration_s, load_price_book({}))
    began = time.process_time()
    slicer.add_all(_records(args.records, args.hours))
    feed_s = time.process_time() - began
    fed_mb = _peak_rss_mb() - rss_before
    began = time.process_time()
    soak = soak_section(slicer)
    judge_s = time.process_time() - began
    grown_mb = _peak_rss_mb() - rss_before

    per_us = 1e6 / args.records
    print(f"{args.records:,} records over {args.hours:g} h, windows of {slicer.width_s:g} s")
    print(f"  build a record alone        {build_s * per_us:6.2f} us/record")
    print(f"  build and add (with prices) {feed_s * per_us:6.2f} us/record")
    print(f"  adding alone                {(feed_s - build_s) * per_us:6.2f} us/record")
    print(f"  soak_section                {judge_s:6.2f} s")
    held_b = slicer.sample_bytes()
    per_held_b = held_b / args.records
    print(f"  samples the windows hold    {held_b / 1e6:6.1f} MB ({per_held_b:.1f} B/record)")
    per_record_b = fed_mb * 1e6 / args.records
    print(f"  peak RSS growth, windows    {fed_mb:6.1f} MB ({per_record_b:.0f} B/record)")
    print(f"  peak RSS growth, judged     {grown_mb:6.1f} MB (adds the bootstrap's chunks)")
    e2e = soak.get("trends", {}).get("e2e_ms_p99", {})
    print(
        f"  verdict {soak['verdict']}, since {soak.get('since_s')} s, "
        f"E2E p99 {e2e.get('per_hour', float('nan')):+.1f} ms/h "
        f"[{e2e.get('low')}, {e2e.get('high')}]"
    )


if __name__ == "__main__":
    main()
