"""The README's "Scenario files" section documents every workload kind and each of its knobs,
sub-agent fan-out included, so a knob added to a workload model cannot go undocumented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from workloads.agent_loop import AgentLoopWorkload
from workloads.batch import BatchWorkload
from workloads.chat import ChatWorkload
from workloads.kinds import WORKLOAD_KINDS
from workloads.rag import RagWorkload
from workloads.stream import StreamWorkload
from workloads.subagents import Subagents

README = Path(__file__).resolve().parents[2] / "README.md"
MODELS: list[type[BaseModel]] = [
    StreamWorkload,
    ChatWorkload,
    AgentLoopWorkload,
    RagWorkload,
    BatchWorkload,
    Subagents,
]


def _scenario_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Scenario files")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_every_kind_has_a_row() -> None:
    section = _scenario_section()
    for kind in WORKLOAD_KINDS:
        assert f"| `{kind}` |" in section, kind


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_knob_is_named(model: type[BaseModel]) -> None:
    section = _scenario_section()
    missing = [name for name in model.model_fields if f"`{name}`" not in section]
    assert not missing, f"{model.__name__}: {missing} not in the README's Scenario files"
