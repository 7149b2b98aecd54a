"""The reports' gate section: a run's ``gates.json`` (if any) in, the ✓/✗ table rows out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.gates.outputs import table_rows

GATE_HEADER = ("", "section", "check", "observed", "limit", "detail")


def gate_context(path: Path) -> dict[str, Any]:
    """``gates`` (rows, empty when the run was not gated) and ``gate_verdict`` (or None)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        rows = table_rows(list(document["results"]))
        verdict = str(document["verdict"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        # A run that was never gated, or a gates.json from another version: no section.
        return {"gates": [], "gate_verdict": None, "gate_header": GATE_HEADER}
    return {"gates": rows, "gate_verdict": verdict, "gate_header": GATE_HEADER}
