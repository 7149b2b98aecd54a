"""docs/scenarios.md documents every workload kind and each of its knobs, sub-agent fan-out
included, and every key of the other scenario sections, so a knob added to a scenario model
cannot go undocumented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.contract.capacity import Projection
from harness.contract.distributions import Dist
from harness.contract.target import Backoff, RetryPolicy, Target
from harness.contract.terms import Price, Slo
from harness.contract.traffic import (
    Arrival,
    Burst,
    Diurnal,
    Ramp,
    Stage,
    Stages,
    Trace,
    TraceColumns,
)
from workloads.agent_loop import AgentLoopWorkload
from workloads.batch import BatchWorkload
from workloads.chat import ChatWorkload
from workloads.kinds import WORKLOAD_KINDS
from workloads.rag import RagWorkload
from workloads.scenario import Scenario
from workloads.stream import StreamWorkload
from workloads.subagents import Subagents

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
WORKLOAD_MODELS: list[type[BaseModel]] = [
    StreamWorkload,
    ChatWorkload,
    AgentLoopWorkload,
    RagWorkload,
    BatchWorkload,
    Subagents,
]
SECTION_MODELS: list[type[BaseModel]] = [
    Scenario,
    Target,
    RetryPolicy,
    Backoff,
    Arrival,
    Diurnal,
    Burst,
    Ramp,
    Stages,
    Stage,
    Dist,
    Trace,
    TraceColumns,
    Slo,
    Price,
    Projection,
]


def _workload_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## [[workload]]")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def named(field: str, text: str) -> bool:
    """A field is documented as `field`, inside a table header ([client.retry],
    [[workload]]) or as a TOML key in an example (`base = "0.5s"`)."""
    name = re.escape(field)
    return bool(
        re.search(rf"`{name}`", text)
        or re.search(rf"\[\[?(?:[a-z_]+\.)*{name}(?:\.[a-z_]+)*\]\]?", text)
        or re.search(rf"\b{name}\s*=", text)
    )


def test_every_kind_has_a_row() -> None:
    section = _workload_section()
    for kind in WORKLOAD_KINDS:
        assert f"| `{kind}` |" in section, kind


@pytest.mark.parametrize("model", WORKLOAD_MODELS, ids=lambda model: model.__name__)
def test_every_knob_is_named(model: type[BaseModel]) -> None:
    section = _workload_section()
    missing = [name for name in model.model_fields if f"`{name}`" not in section]
    assert not missing, f"{model.__name__}: {missing} not in the [[workload]] section of {DOC}"


@pytest.mark.parametrize("model", SECTION_MODELS, ids=lambda model: model.__name__)
def test_every_section_key_is_named(model: type[BaseModel]) -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in model.model_fields if not named(name, text)]
    assert not missing, f"{model.__name__}: {missing} not in {DOC}"


def test_named_tells_a_documented_key_from_an_absent_one() -> None:
    text = 'see `rate`, the [client.retry] table and backoff = { base = "1s" }'
    assert named("rate", text)
    assert named("client", text)
    assert named("retry", text)
    assert named("base", text)
    assert not named("jitter", text)
    assert not named("ate", text)
