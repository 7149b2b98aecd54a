"""Attempt records on disk: JSON lines, zstd-compressed JSON lines and Parquet chunks,
measured side by side on the same synthetic records (48-token streams, ``synth_run.py``).

Per format: bytes per attempt, CPU microseconds per attempt to write (serialise, compress,
write), and seconds to read every record back for analysis (all token gaps into one numpy
array, the bulk of any ITL figure). Then the engine's side: what ``RecordAppender.append``
(JSONL line + Parquet chunk) costs per record beside the JSONL appender alone, on average
and at its worst (the record that triggers a chunk write).

    .venv/bin/python bench/records_format.py [--attempts 200000] [--level 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson
import pyarrow.parquet as pq
import zstandard
from synth_run import _attempt_batch, _requests

from harness.contract.records import AttemptRecord, JsonlAppender, to_json_line
from harness.store.appender import RecordAppender
from harness.store.chunks import CHUNK_ROWS, chunk_dir, record_batches
from harness.store.schema import from_batch


def _records(attempts: int) -> list[AttemptRecord]:
    rng = np.random.default_rng(3)
    records: list[AttemptRecord] = []
    while len(records) < attempts:
        req = _requests(len(records), min(CHUNK_ROWS, attempts - len(records)), 1000.0, rng)
        records.extend(from_batch(_attempt_batch(req, rng)))
    return records[:attempts]


def _cpu(action: Callable[[], None]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def _wall(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _gaps_from_json(lines: list[bytes]) -> np.ndarray:
    gaps: list[np.ndarray] = []
    for line in lines:
        raw = orjson.loads(line)
        if raw["first_token_s"] is not None and raw["token_times_s"]:
            gaps.append(np.diff([raw["first_token_s"], *raw["token_times_s"]]))
    return np.concatenate(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--level", type=int, default=3, help="zstd level of the JSONL")
    args = parser.parse_args()
    records = _records(args.attempts)
    n = len(records)
    rows: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        plain = root / "records.jsonl"

        def write_plain() -> None:
            with plain.open("wb") as handle:
                for record in records:
                    handle.write(to_json_line(record))

        cpu = _cpu(write_plain)
        read = _wall(lambda: _gaps_from_json(plain.read_bytes().splitlines()))
        rows.append(("jsonl", plain.stat().st_size / n, cpu / n * 1e6, read))

        packed = root / "records.jsonl.zst"

        def write_zstd() -> None:
            compressor = zstandard.ZstdCompressor(level=args.level)
            with packed.open("wb") as raw, compressor.stream_writer(raw) as handle:
                for record in records:
                    handle.write(to_json_line(record))

        def read_zstd() -> None:
            with packed.open("rb") as raw:
                text = zstandard.ZstdDecompressor().stream_reader(raw).read()
            _gaps_from_json(text.splitlines())

        cpu = _cpu(write_zstd)
        read = _wall(read_zstd)
        rows.append(
            (f"jsonl.zst (level {args.level})", packed.stat().st_size / n, cpu / n * 1e6, read)
        )

        columnar = root / "col" / "records.jsonl"
        columnar.parent.mkdir()

        def write_chunks() -> None:
            appender = RecordAppender(columnar, time.monotonic, chunk_age_s=1e9)
            for record in records:
                appender.append(record)
            appender.close()

        def read_chunks() -> None:
            parts = [
                pq.read_table(p, columns=["token_gaps_us"])
                for p in sorted(chunk_dir(columnar).glob("*.parquet"))
            ]
            np.concatenate([t.column(0).combine_chunks().flatten().to_numpy() for t in parts])

        cpu_both = _cpu(write_chunks)
        size = sum(p.stat().st_size for p in chunk_dir(columnar).glob("*.parquet"))
        cpu_plain_append = _cpu(lambda: _append_all(JsonlAppender(root / "again.jsonl"), records))
        rows.append(
            (
                "parquet chunks (zstd)",
                size / n,
                (cpu_both - cpu_plain_append) / n * 1e6,
                _wall(read_chunks),
            )
        )
        assert sum(b.num_rows for b in record_batches(columnar)) == n

        print(f"{n:,} attempts of 48-token streams")
        print(f"{'format':<24} {'bytes/attempt':>14} {'write CPU us/attempt':>21} {'read s':>8}")
        for name, size_b, cpu_us, read_s in rows:
            print(f"{name:<24} {size_b:>14,.0f} {cpu_us:>21.1f} {read_s:>8.2f}")
        base = rows[0]
        for name, other in (("jsonl", base), ("jsonl.zst", rows[1])):
            share, faster = rows[2][1] / other[1], other[3] / rows[2][3]
            print(f"parquet / {name}: {share:.3f} of the bytes, read {faster:.1f}x faster")
        _engine_side(records, root)


def _append_all(appender: JsonlAppender | RecordAppender, records: list[AttemptRecord]) -> None:
    for record in records:
        appender.append(record)
    appender.close()


def _engine_side(records: list[AttemptRecord], root: Path) -> None:
    """Per-record append cost in the engine's sink: wall time of each call."""
    results: dict[str, np.ndarray] = {}
    for name in ("jsonl appender", "jsonl + parquet"):
        path = root / name.replace(" ", "_") / "records.jsonl"
        path.parent.mkdir()
        appender: JsonlAppender | RecordAppender = (
            JsonlAppender(path)
            if name == "jsonl appender"
            else RecordAppender(path, time.monotonic)
        )
        times = np.empty(len(records))
        clock = time.perf_counter
        for index, record in enumerate(records):
            started = clock()
            appender.append(record)
            times[index] = clock() - started
        appender.close()
        results[name] = times
    print("engine side, per append call:")
    print(f"{'sink':<18} {'mean us':>8} {'p99 us':>8} {'max ms':>8}")
    for name, times in results.items():
        mean_us, p99_us = times.mean() * 1e6, np.quantile(times, 0.99) * 1e6
        print(f"{name:<18} {mean_us:>8.1f} {p99_us:>8.1f} {times.max() * 1e3:>8.1f}")
    ratio = results["jsonl + parquet"].mean() / results["jsonl appender"].mean()
    print(f"jsonl + parquet / jsonl alone: {ratio:.2f}x the mean append time")


if __name__ == "__main__":
    main()
