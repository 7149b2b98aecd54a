"""The ``probe`` workload: a ProbeWorkload config and a session's RNG in, one planned request
out: a guardrail probe from the project's corpus (``workloads.probe_corpus``).

Each session sends one corpus item of the chosen ``categories``, drawn uniformly (the
harmful probes and the clean look-alikes of those categories alike), mixed into the run's
other traffic at the workload's ``share``. Its tags say what it is: ``class = "probe"``,
``category``, ``expected`` (``block`` or ``pass``) and ``probe`` (the item's id), which is
how ``harness.metrics.probes`` scores the guardrail and a gate filters by category.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from harness.contract.prompt_text import count_tokens
from harness.contract.records import PlannedMessage, PlannedRequest
from workloads.distributions import sample_int
from workloads.kind_base import WorkloadBase
from workloads.probe_corpus import CATEGORIES, probes_of
from workloads.session import SessionContext, Turn


class ProbeWorkload(WorkloadBase):
    """Guardrail probes of ``categories`` (default: all of them)."""

    kind: Literal["probe"]
    categories: tuple[str, ...] = Field(default=CATEGORIES, min_length=1)

    @field_validator("categories")
    @classmethod
    def _known(cls, categories: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(
                f"unknown probe category {unknown[0]!r}; one of {', '.join(CATEGORIES)}"
            )
        return categories


def build_probe_session(
    cfg: ProbeWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """One probe, tagged with its class, category, expected verdict and id."""
    items = probes_of(cfg.categories)
    item = items[int(rng.integers(0, len(items)))]
    message = PlannedMessage(role="user", tokens=count_tokens(item.text), content=item.text)
    turn = Turn(messages=(message,), think_s=0.0, max_tokens=sample_int(cfg.max_tokens, rng))
    (request,) = ctx.requests([turn])
    tags = {
        **request.tags,
        "class": "probe",
        "category": item.category,
        "expected": item.verdict,
        "probe": item.probe_id,
    }
    return [dataclasses.replace(request, tags=tags)]
