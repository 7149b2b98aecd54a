"""tokenstorm's harness; ``harness.load_run(RUN)`` reads a run directory into pandas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.store.frames import RunFrames


def load_run(run: str | Path) -> RunFrames:
    """The plan, records and ledger of a run directory as typed pandas DataFrames
    (``harness.store.frames.load_run``, imported on demand: pandas is heavy)."""
    from harness.store.frames import load_run as load

    return load(run)
