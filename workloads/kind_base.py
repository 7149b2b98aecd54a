"""What every ``[[workload]]`` kind shares: share, tags, model, max_tokens, and the context
window settings of the multi-turn kinds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.contract.distributions import Dist, DistSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkloadBase(_Strict):
    share: float = Field(default=1.0, gt=0)
    tags: dict[str, str] = Field(default_factory=dict)
    model: str | None = None
    max_tokens: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=128))


class ContextWindowSettings(_Strict):
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
