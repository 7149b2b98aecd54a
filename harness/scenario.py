"""The scenario file (TOML): what to send, where, how fast, and what it costs.

Validated at the edge with pydantic; ``load_scenario`` turns every mistake into one
``ScenarioError`` line naming the file, the field and what is allowed. Durations and rates
are written with units (``"30s"``, ``"12/s"``) and held here in seconds and per-second.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from harness.quantities import parse_duration_s, parse_rate_per_s
from harness.scenario_traffic import Arrival as Arrival
from harness.scenario_traffic import Trace as Trace
from harness.scenario_traffic import TraceColumns as TraceColumns
from harness.scenario_workloads import WORKLOAD_KINDS
from harness.scenario_workloads import AgentLoopWorkload as AgentLoopWorkload
from harness.scenario_workloads import BatchWorkload as BatchWorkload
from harness.scenario_workloads import ChatWorkload as ChatWorkload
from harness.scenario_workloads import Dist as Dist
from harness.scenario_workloads import DistSpec as DistSpec
from harness.scenario_workloads import RagWorkload as RagWorkload
from harness.scenario_workloads import StreamWorkload as StreamWorkload
from harness.scenario_workloads import Workload as Workload
from mock_models.settings import MockSettings

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]
PerSecond = Annotated[float, BeforeValidator(parse_rate_per_s)]
Api = Literal["openai-chat", "anthropic-messages"]

DEFAULT_KEY_ENV: dict[str, str] = {
    "openai-chat": "OPENAI_API_KEY",
    "anthropic-messages": "ANTHROPIC_API_KEY",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backoff(_Strict):
    base: Seconds = 0.5
    max: Seconds = 8.0
    jitter: float = Field(default=0.25, ge=0, le=1)


class RetryPolicy(_Strict):
    """What the application's client does on failure (openai-python-like when enabled)."""

    attempts: int = Field(default=1, ge=1, le=10)
    backoff: Backoff = Field(default_factory=Backoff)
    honor_retry_after: bool = True
    max_retry_after: Seconds = 60.0
    retry_on_status: tuple[int, ...] = (408, 409, 429, 500, 502, 503, 504, 529)
    retry_on_outcome: tuple[str, ...] = (
        "connect_error",
        "timeout_connect",
        "reset",
        "timeout_first_token",
    )


class ClientSettings(_Strict):
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class Target(_Strict):
    """Where requests go. Without ``url`` the embedded mock serves them."""

    url: str | None = None
    api: Api = "openai-chat"
    model: str | None = None
    api_key_env: str | None = None
    timeout: Seconds = 60.0
    connect_timeout: Seconds = 5.0
    first_token_timeout: Seconds | None = None
    stream: bool = True
    ledger: str | None = None
    max_connections: int = Field(default=1024, ge=1)
    tag_prompt: bool = False
    #: Anthropic prompt-cache breakpoints the client places: "off", "system" (the system
    #: prompt) or "conversation" (the system prompt and each request's last message).
    cache_control: Literal["off", "system", "conversation"] = "off"

    @model_validator(mode="after")
    def _url_scheme(self) -> Target:
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        if self.cache_control != "off" and self.api != "anthropic-messages":
            raise ValueError(
                f"cache_control = {self.cache_control!r} needs api = "
                "'anthropic-messages' (OpenAI caches prefixes by itself)"
            )
        return self

    @property
    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV[self.api]


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
        return self


class ScenarioError(ValueError):
    """A scenario could not be loaded; ``str()`` is one line naming file, field and fix."""


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {
            *WORKLOAD_KINDS,
            "constant",
            "function-after",
            "diurnal",
            "burst",
            "ramp",
            "stages",
        }:
            continue  # discriminator / validator names pydantic puts in the path
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def describe_validation_error(source: str, exc: ValidationError) -> str:
    """One line for the first error (and a count of the others)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = _location(tuple(first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field (check its spelling against the documented scenario keys)"
    elif first["type"] == "missing":
        message = "missing required field"
    elif first["type"] == "union_tag_invalid":
        message = "kind must be one of " + ", ".join(f"'{kind}'" for kind in WORKLOAD_KINDS)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {where}: {message}{more}"


def parse_scenario(
    data: dict[str, Any], source: str = "<scenario>", base_dir: Path | None = None
) -> Scenario:
    """Validate ``data``; a relative trace path in a ``Dist`` is looked up in ``base_dir``
    first (the scenario file's folder), then in the shared traces folder."""
    try:
        return Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(describe_validation_error(source, exc)) from None


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
