"""The traffic parts of a scenario: ``[arrival]``, its ``[[arrival.shape]]`` rate multipliers,
and the ``[trace]`` to replay, validated with pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from harness.contract.distributions import TraceRef
from harness.contract.quantities import parse_duration_s, parse_rate_per_s

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]
PerSecond = Annotated[float, BeforeValidator(parse_rate_per_s)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Diurnal(_Strict):
    """A day squeezed into ``period`` (default: the run): trough at the start, peak halfway,
    ``peak_to_trough`` times the trough; its mean over a period is 1."""

    kind: Literal["diurnal"]
    peak_to_trough: float = Field(default=10.0, ge=1)
    period: Seconds | None = Field(default=None, gt=0)


class Burst(_Strict):
    """A flash crowd: the rate times ``multiplier`` from ``at`` for ``length``."""

    kind: Literal["burst"]
    at: Seconds
    length: Seconds = Field(gt=0)
    multiplier: float = Field(gt=0)


class Ramp(_Strict):
    """The rate times ``start`` until ``at``, then linearly to ``end`` over ``length``."""

    kind: Literal["ramp"]
    at: Seconds = 0.0
    length: Seconds = Field(gt=0)
    start: float = Field(default=0.0, ge=0)
    end: float = Field(default=1.0, ge=0)


class Stage(_Strict):
    length: Seconds = Field(gt=0)
    multiplier: float = Field(ge=0)


class Stages(_Strict):
    """Piecewise stages from the run start; the last stage's multiplier holds to the end."""

    kind: Literal["stages"]
    stages: tuple[Stage, ...] = Field(min_length=1)


ArrivalShape = Annotated[Diurnal | Burst | Ramp | Stages, Field(discriminator="kind")]


class Arrival(_Strict):
    """When sessions start: ``constant`` (a fixed grid), ``poisson``, or ``gamma`` (gaps with
    coefficient of variation ``cv``: 1 is Poisson, above 1 burstier) at ``rate``; each
    ``[[arrival.shape]]`` multiplies the rate over time (they compose by product).

    ``concurrency`` (``process = "concurrency"``, implied by giving it) is the closed loop:
    ``concurrency`` sessions in flight, a new one starting when one ends; no rate, shape or
    trace then applies.

    ``trace`` instead fits a gamma process to a recorded trace (its mean rate times
    ``trace_time_scale``, its inter-arrival CV); the path is found like a ``Dist`` trace.

    ``requests`` stops the plan after that many requests (sessions start until it is reached,
    the last one keeps only its first turns); without a ``duration`` the run lasts as long as
    they need, with one whichever ends first wins (``workloads.planner``).
    """

    process: Literal["constant", "poisson", "gamma", "concurrency"] = "poisson"
    rate: PerSecond = 2.0
    cv: float = Field(default=1.0, gt=0)
    shape: tuple[ArrivalShape, ...] = ()
    trace: TraceRef = None
    trace_time_scale: float = Field(default=1.0, gt=0)
    requests: int | None = Field(default=None, ge=1)
    concurrency: int | None = Field(default=None, ge=1, le=20_000)

    @model_validator(mode="before")
    @classmethod
    def _closed_loop_implied(cls, data: Any) -> Any:
        if isinstance(data, dict) and "concurrency" in data and "process" not in data:
            return {**data, "process": "concurrency"}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Arrival:
        if self.process == "concurrency":
            return self._closed_loop()
        if self.concurrency is not None:
            raise ValueError(
                f'concurrency belongs to process = "concurrency", not "{self.process}"'
            )
        given = {"process", "rate", "cv"} & self.model_fields_set
        if self.trace is not None and given:
            raise ValueError(
                f"give either trace or {'/'.join(sorted(given))}: a trace "
                "fits a gamma process's rate and cv"
            )
        return self

    def _closed_loop(self) -> Arrival:
        if self.concurrency is None:
            raise ValueError('process = "concurrency" needs concurrency = N (sessions in flight)')
        # Compared with the defaults, not by presence: a run's manifest lists every field.
        fields = type(self).model_fields
        open_loop = [
            name
            for name in ("rate", "cv", "shape", "trace", "trace_time_scale")
            if getattr(self, name) != fields[name].get_default(call_default_factory=True)
        ]
        if open_loop:
            verb = "does" if len(open_loop) == 1 else "do"
            raise ValueError(
                f"{', '.join(open_loop)} {verb} not apply to the closed loop "
                '(process = "concurrency"): sessions start when one ends, not at a rate'
            )
        return self


TraceFormat = Literal["auto", "azure", "burstgpt", "mooncake", "tracelab", "csv", "jsonl"]


class TraceColumns(_Strict):
    """Which columns (CSV) or fields (JSONL) of a generic trace hold what.

    ``time_unit``: ``s``/``ms``/``us``/``ns`` for numbers, ``iso`` for date-time text.
    """

    time: str
    prompt_tokens: str
    output_tokens: str
    session: str | None = None
    time_unit: Literal["s", "ms", "us", "ns", "iso"] = "s"


class Trace(_Strict):
    """Replay a recorded trace: every row becomes one planned request.

    ``time_scale`` > 1 plays the trace faster (offsets are divided by it); ``rate_scale``
    keeps the time axis and thins (< 1) or multiplies (> 1) the rows, seeded; ``start`` and
    ``end`` cut a slice of trace time (seconds since the trace's first row, before scaling).
    ``block_tokens`` is the size of a Mooncake ``hash_ids`` block.
    """

    path: str
    format: TraceFormat = "auto"
    time_scale: float = Field(default=1.0, gt=0)
    rate_scale: float = Field(default=1.0, gt=0)
    start: Seconds | None = None
    end: Seconds | None = None
    block_tokens: int = Field(default=512, ge=1)
    columns: TraceColumns | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    model: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Trace:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        if self.format in {"csv", "jsonl"} and self.columns is None:
            raise ValueError(
                f"format '{self.format}' needs [trace.columns] (time, prompt_tokens, output_tokens)"
            )
        return self
