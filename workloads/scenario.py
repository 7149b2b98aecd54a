"""The scenario file (TOML): what to send, where, how fast, and what it costs.

Validated at the edge with pydantic, from the contract's parts and each workload kind's own
model; ``load_scenario`` turns every mistake into one ``ScenarioError`` line naming the file,
the field and what is allowed. Durations and rates are written with units (``"30s"``,
``"12/s"``) and held here in seconds and per-second.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from harness.contract.capacity import Projection
from harness.contract.config_errors import describe_validation_error
from harness.contract.quantities import parse_duration_s
from harness.contract.target import ClientSettings, Target
from harness.contract.terms import Price, Slo
from harness.contract.traffic import Arrival, Trace
from mock_models.settings import MockSettings
from workloads.kinds import WORKLOAD_KINDS, Workload

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scenario(_Strict):
    name: str = "scenario"
    seed: int = 0
    duration: Seconds = 30.0
    #: After ``duration``, how long attempts in flight (and their retries) may still finish.
    #: No session starts and no later turn is sent after ``duration``.
    drain: Seconds = 15.0
    target: Target = Field(default_factory=Target)
    client: ClientSettings = Field(default_factory=ClientSettings)
    arrival: Arrival = Field(default_factory=Arrival)
    #: May be empty when a ``[trace]`` is replayed; then the trace alone is the plan.
    workload: tuple[Workload, ...]
    trace: Trace | None = None
    slo: Slo = Field(default_factory=Slo)
    prices: dict[str, Price] = Field(default_factory=dict)
    mock: MockSettings = Field(default_factory=MockSettings)
    #: Cost at scale for the report (``tokenstorm project`` reads it too).
    projection: Projection | None = None

    @model_validator(mode="before")
    @classmethod
    def _trace_alone(cls, data: Any) -> Any:
        # A trace replay needs no synthetic workload; without a trace, a missing workload
        # stays a "missing required field" error.
        if isinstance(data, dict) and data.get("trace") is not None and "workload" not in data:
            return {**data, "workload": []}
        return data

    @model_validator(mode="after")
    def _positive_duration(self) -> Scenario:
        if self.duration <= 0:
            raise ValueError("duration must be greater than zero")
        if not self.workload and self.trace is None:
            raise ValueError("give at least one [[workload]] or a [trace] to replay")
        if self.arrival.process == "concurrency" and (self.trace is not None or not self.workload):
            raise ValueError(
                "the closed loop (arrival concurrency) runs [[workload]] sessions; "
                "a [trace] replays its own send times"
            )
        if (
            self.arrival.requests is not None
            and self.arrival.shape
            and "duration" not in self.model_fields_set
        ):
            raise ValueError(
                "arrival shapes are laid over the run's duration: with [arrival] requests, "
                "give duration too"
            )
        return self


class ScenarioError(ValueError):
    """A scenario could not be loaded; ``str()`` is one line naming file, field and fix."""


#: Location parts pydantic adds for tagged unions and validators, not field names.
_HIDDEN = {*WORKLOAD_KINDS, "constant", "diurnal", "burst", "ramp", "stages"}


def describe_scenario_error(source: str, exc: ValidationError) -> str:
    """One line naming the file, the field and the fix (see ``harness.contract.config_errors``)."""
    return describe_validation_error(source, exc, hidden=_HIDDEN)


def parse_scenario(
    data: dict[str, Any], source: str = "<scenario>", base_dir: Path | None = None
) -> Scenario:
    """Validate ``data``; a relative trace path in a ``Dist`` is looked up in ``base_dir``
    first (the scenario file's folder), then in the shared traces folder."""
    try:
        return Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(describe_scenario_error(source, exc)) from None


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; raise ``ScenarioError`` with a one-line message."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None
    return parse_scenario(data, str(path), path.parent)
