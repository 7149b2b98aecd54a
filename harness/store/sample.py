"""A systematic sample of a run's attempt records: every ``every``-th record, in file order,
read chunk by chunk (for charts of runs too large to draw whole)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from harness.contract.records import AttemptRecord
from harness.store.chunks import record_batches
from harness.store.schema import from_batch


def sample_records(records_path: Path, every: int) -> list[AttemptRecord]:
    """Records number 0, ``every``, 2 * ``every``, ... of the run."""
    step = max(every, 1)
    sample: list[AttemptRecord] = []
    seen = 0
    for batch in record_batches(records_path):
        first = (-seen) % step
        if first < batch.num_rows:
            picked = batch.take(pa.array(range(first, batch.num_rows, step)))
            sample.extend(from_batch(picked))
        seen += batch.num_rows
    return sample
