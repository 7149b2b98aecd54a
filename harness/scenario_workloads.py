"""The workload parts of a scenario: ``[[workload]]`` tables and the ``Dist`` of each sampled
quantity, validated with pydantic; ``harness.scenario`` re-exports every model here.

A ``Dist`` may name a trace column (``trace``, ``column``) instead of parameters: ``empirical``
then draws from the column's values and ``lognormal`` is fitted to them. The path is checked
here (relative to the scenario's folder, then the shared traces folder); the planner reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from harness.quantities import parse_duration_s


#: Where a relative ``trace`` path is looked up after the scenario's own folder: the
def _shared_traces_dir() -> Path:
    """The project's shared trace store: ``$TOKENSTORM_TRACES``, else ``../shared/traces``
    beside the checkout, else the workplace's ``/work/shared/traces``."""
    configured = os.environ.get("TOKENSTORM_TRACES")
    if configured:
        return Path(configured)
    beside = Path(__file__).resolve().parents[2] / "shared" / "traces"
    return beside if beside.is_dir() else Path("/work/shared/traces")


SHARED_TRACES_DIR = _shared_traces_dir()

#: The ``dist`` kinds that may take their shape from a trace column.
TRACE_FITTED = ("empirical", "lognormal")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _number_or_duration(value: Any) -> Any:
    return parse_duration_s(value) if isinstance(value, str) else value


Quantity = Annotated[float, BeforeValidator(_number_or_duration)]


def resolve_trace_path(name: str, base_dir: Path | None) -> str:
    """The file a ``trace`` names: absolute as given, else in ``base_dir`` or the shared store."""
    path = Path(name)
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [folder / path for folder in (base_dir, SHARED_TRACES_DIR) if folder]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    looked = ", ".join(str(candidate.parent) for candidate in candidates)
    raise ValueError(f"no trace file '{name}' (looked in {looked}); give an existing path")


def _resolve_in_context(value: str | None, info: ValidationInfo) -> str | None:
    """Resolve a trace name against the scenario's folder (validation context ``base_dir``)."""
    if value is None:
        return None
    context = info.context if isinstance(info.context, dict) else {}
    base_dir = context.get("base_dir")
    return resolve_trace_path(value, base_dir if isinstance(base_dir, Path) else None)


#: A trace file named in a scenario, checked to exist and made absolute.
TraceRef = Annotated[str | None, AfterValidator(_resolve_in_context)]


class Dist(_Strict):
    """A distribution of token counts or durations.

    ``constant`` (value), ``uniform`` (min, max), ``lognormal`` (median, sigma),
    ``normal`` (mean, std), ``exponential`` (mean), ``geometric`` (mean; counts >= 1),
    ``zipf`` (exponent ``s`` > 1: P(k) proportional to k**-s, counts >= 1; cap it with ``max``),
    ``empirical`` (values: draws one of them, equally likely). ``empirical`` and ``lognormal``
    may instead name ``trace`` and ``column`` (``prompt_tokens``, ``output_tokens``,
    ``interarrival_s`` or the trace's own column name); the planner fills in the values or
    fits median and sigma to the column's p50 and p90. Any of them may carry ``min``/``max``
    bounds. Durations may be written with units.
    """

    dist: Literal[
        "constant",
        "uniform",
        "lognormal",
        "normal",
        "exponential",
        "geometric",
        "zipf",
        "empirical",
    ]
    value: Quantity | None = None
    min: Quantity | None = None
    max: Quantity | None = None
    median: Quantity | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, ge=0)
    mean: Quantity | None = None
    std: Quantity | None = Field(default=None, ge=0)
    s: float | None = Field(default=None, gt=1)
    values: tuple[float, ...] | None = Field(default=None, min_length=1)
    trace: TraceRef = None
    column: str | None = None

    @model_validator(mode="after")
    def _has_parameters(self) -> Dist:
        if (self.trace is None) != (self.column is None):
            raise ValueError("give both trace and column, or neither")
        if self.trace is not None and self.dist not in TRACE_FITTED:
            raise ValueError(f"only {' and '.join(TRACE_FITTED)} can be fitted to a trace")
        needs: dict[str, tuple[str, ...]] = {
            "constant": ("value",),
            "uniform": ("min", "max"),
            "lognormal": ("median", "sigma"),
            "normal": ("mean", "std"),
            "exponential": ("mean",),
            "geometric": ("mean",),
            "zipf": ("s",),
            "empirical": ("values",),
        }
        missing = [name for name in needs[self.dist] if getattr(self, name) is None]
        if missing and self.trace is None:
            alternative = " (or trace and column)" if self.dist in TRACE_FITTED else ""
            raise ValueError(f"dist '{self.dist}' needs {', '.join(missing)}{alternative}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.dist == "geometric" and self.mean is not None and self.mean < 1:
            raise ValueError("a geometric mean must be >= 1")
        return self


def _dist(value: Any) -> Any:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    return value


DistSpec = Annotated[Dist, BeforeValidator(_dist)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Workload(_Strict):
    share: float = Field(default=1.0, gt=0)
    tags: dict[str, str] = Field(default_factory=dict)
    model: str | None = None
    max_tokens: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=128))


class _ContextWindow(_Strict):
    """A session whose history may outgrow the model's window.

    With ``context_window_tokens`` set, a turn whose estimated context (planned messages,
    earlier answers counted at their ``max_tokens``, plus its own ``max_tokens``) would exceed
    it drops the oldest non-system turns (``truncate``), or replaces them by one summary
    message of ``summary_tokens`` (``summarize``); the plan then lists that turn's whole
    context. Without it, the context only grows.
    """

    context_window_tokens: int | None = Field(default=None, gt=0)
    on_overflow: Literal["truncate", "summarize"] = "truncate"
    summary_tokens: int = Field(default=400, ge=1)


class StreamWorkload(_Workload):
    """Independent single requests; ``shared_prefix_share`` of each prompt is a prefix every
    session of the workload shares."""

    kind: Literal["stream"]
    prompt_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=512, sigma=0.6)
    )
    shared_prefix_share: Share = 0.0


class ChatWorkload(_Workload, _ContextWindow):
    """Multi-turn chat: each turn re-sends the history plus a new user message."""

    kind: Literal["chat"]
    system_prompt_tokens: int = Field(default=200, ge=0)
    prompt_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=120, sigma=0.7)
    )
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="geometric", mean=3, max=20))
    think_time: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=2.0, sigma=0.6)
    )


class Subagents(_Strict):
    """Sub-agent fan-out of an agent loop (the ``[workload.subagents]`` table).

    A turn that has a next turn spawns sub-agents with ``probability`` (each such turn drawn
    on its own), or on every ``every_turns``-th turn; give one of the two. It spawns ``count``
    of them, each an agent session of its own (``turns`` turns, a system prompt shared by all
    sub-agents of the workload, its own task and tool outputs), started when the spawning
    turn has finished. The parent's next turn waits for all of them, then adds one message of
    ``result_tokens`` per sub-agent. ``tool_latency`` unset: the parent's.
    """

    probability: Share = 0.0
    every_turns: int | None = Field(default=None, ge=1)
    count: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=2))
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="geometric", mean=3, max=10))
    system_prompt_tokens: int = Field(default=800, ge=0)
    task_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=200, sigma=0.6)
    )
    tool_output_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=1.0)
    )
    tool_latency: DistSpec | None = None
    result_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=0.6)
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> Subagents:
        if (self.probability > 0) == (self.every_turns is not None):
            raise ValueError("give subagents either probability > 0 or every_turns, not both")
        return self


class AgentLoopWorkload(_Workload, _ContextWindow):
    """An agent: system prompt + task, then tool-call turns whose outputs grow the context;
    optionally fanning out to sub-agents (``subagents``; off by default)."""

    kind: Literal["agent_loop"]
    system_prompt_tokens: int = Field(default=1500, ge=0)
    task_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=0.8)
    )
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="geometric", mean=6, max=30))
    tool_output_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=400, sigma=1.0)
    )
    tool_latency: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=0.5, sigma=0.7)
    )
    subagents: Subagents | None = None


class RagWorkload(_Workload, _ContextWindow):
    """Retrieval-augmented requests: a question after ``documents_per_request`` documents
    drawn from a pool of ``documents`` shared by all sessions (popularity Zipf with exponent
    ``document_zipf_s``; 0 is uniform), so popular documents repeat as cacheable prefixes.

    A session has ``turns`` turns (default 1): each follow-up, ``think_time`` after the
    previous answer, retrieves ``follow_up_documents`` more pool documents the session has not
    seen yet, asks a new question, and re-sends the history; ``context_window_tokens`` keeps a
    long session within the model's window (older documents and questions go first)."""

    kind: Literal["rag"]
    system_prompt_tokens: int = Field(default=300, ge=0)
    documents: int = Field(default=200, ge=1)
    documents_per_request: int = Field(default=4, ge=1)
    document_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=600, sigma=0.5)
    )
    document_zipf_s: float = Field(default=1.0, ge=0)
    question_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=40, sigma=0.6)
    )
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=1))
    think_time: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=2.0, sigma=0.6)
    )
    follow_up_documents: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=1))

    @model_validator(mode="after")
    def _enough_documents(self) -> RagWorkload:
        if self.documents_per_request > self.documents:
            raise ValueError("documents_per_request must not exceed documents (the pool size)")
        return self


class BatchWorkload(_Workload):
    """An offline job: ``requests`` independent, latency-tolerant requests submitted
    ``spacing`` apart, tagged ``class = "batch"`` unless the tags say otherwise."""

    kind: Literal["batch"]
    requests: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=20))
    spacing: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=0.05))
    prompt_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=800, sigma=0.8)
    )
    shared_prefix_share: Share = 0.0
    max_tokens: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=512))


Workload = Annotated[
    StreamWorkload | ChatWorkload | AgentLoopWorkload | RagWorkload | BatchWorkload,
    Field(discriminator="kind"),
]
WORKLOAD_KINDS = ("stream", "chat", "agent_loop", "rag", "batch")
