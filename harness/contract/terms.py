"""What a run is judged and billed by: ``[slo]`` and ``[prices]``, plus ``RunTerms``, the
scenario fields that summaries need, read back from a run's manifest."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.contract.quantities import parse_duration_s

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slo(_Strict):
    ttft: Seconds | None = None
    e2e: Seconds | None = None
    tpot: Seconds | None = None


class Price(_Strict):
    """Bill a model as a real one (``price_as``), or give prices in USD per million tokens."""

    price_as: str | None = None
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    #: Prompt-cache writes (Anthropic's cache_creation_input_tokens); the input price if unset.
    cache_write_per_mtok: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_way(self) -> Price:
        explicit = self.input_per_mtok is not None or self.output_per_mtok is not None
        if self.price_as is None and not explicit:
            raise ValueError("give price_as = 'real-model' or input_per_mtok/output_per_mtok")
        if self.price_as is not None and explicit:
            raise ValueError("give either price_as or explicit prices, not both")
        return self


class RunTerms(BaseModel):
    """The part of a run's scenario that its figures depend on (duration, SLO, prices).

    Read from ``manifest.json``; the scenario's other tables are ignored here, so the
    layers that summarise, gate and compare runs need not know every workload kind.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    duration: Seconds = 30.0
    slo: Slo = Field(default_factory=Slo)
    prices: dict[str, Price] = Field(default_factory=dict)
