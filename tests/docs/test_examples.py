"""The README's "point it at my gateway" scenario is docs/examples/gateway.toml, word for word,
and ``tokenstorm plan`` accepts it."""

from __future__ import annotations

import re
from pathlib import Path

from harness.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "gateway.toml"


def test_readme_shows_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_plan_accepts_the_example(tmp_path: Path) -> None:
    out = tmp_path / "plan.jsonl"
    assert main(["plan", str(EXAMPLE), "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 100
    assert '"model":"gpt-4o-mini"' in lines[0]
