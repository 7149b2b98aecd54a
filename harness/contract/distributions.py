"""Sampled quantities of a scenario: a ``Dist`` table (or a bare number) in, a validated spec out.

A ``Dist`` may name a trace column (``trace``, ``column``) instead of parameters: ``empirical``
then draws from the column's values and ``lognormal`` is fitted to them. The path is checked
here: relative to the scenario's folder, then ``$TOKENSTORM_TRACES``, then the public traces
shipped with the package (``harness/data/traces``); the planner reads it.
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

from harness.contract.quantities import parse_duration_s

#: The public traces shipped with the package (see its README for sources and licences).
BUNDLED_TRACES_DIR = Path(__file__).resolve().parent.parent / "data" / "traces"


def trace_folders() -> tuple[Path, ...]:
    """Where a relative trace name is looked up after the scenario's own folder."""
    configured = os.environ.get("TOKENSTORM_TRACES")
    return (Path(configured), BUNDLED_TRACES_DIR) if configured else (BUNDLED_TRACES_DIR,)


#: The ``dist`` kinds that may take their shape from a trace column.
TRACE_FITTED = ("empirical", "lognormal")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _number_or_duration(value: Any) -> Any:
    return parse_duration_s(value) if isinstance(value, str) else value


Quantity = Annotated[float, BeforeValidator(_number_or_duration)]


def resolve_trace_path(name: str, base_dir: Path | None) -> str:
    """The file a ``trace`` names: absolute as given, else in ``base_dir`` or a trace folder."""
    path = Path(name)
    if path.is_absolute():
        candidates = [path]
    else:
        folders = (base_dir, *trace_folders()) if base_dir else trace_folders()
        candidates = [folder / path for folder in folders]
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
