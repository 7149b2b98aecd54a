"""Fault profiles (TOML): rules that say which fault hits which attempts, and when.

A rule names a fault kind and its parameters, a probability per attempt, the deployments,
models and API flavours it targets, a window on the run clock (start, end, linear ramp in and
out) and optionally "only the first N attempts of a request". Profiles ship in
``faults/profiles/`` and load by name (``brownout``) or by path.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from faults.catalogue import API_FLAVOURS, FaultKind, resolve_params
from harness.contract.config_errors import describe_validation_error
from harness.contract.quantities import parse_duration_s

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    """When a rule is active on the run clock; the probability ramps linearly over ``ramp``
    after ``start`` and before ``end``."""

    start: Seconds = 0.0
    end: Seconds | None = None
    ramp: Seconds = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end is not None and self.end <= self.start:
            raise ValueError("window end must come after its start")
        return self

    def weight(self, t_s: float) -> float:
        """0..1: how much of the rule's probability applies at run time ``t_s``."""
        if t_s < self.start or (self.end is not None and t_s >= self.end):
            return 0.0
        weight = 1.0
        if self.ramp > 0:
            weight = min(weight, (t_s - self.start) / self.ramp)
            if self.end is not None:
                weight = min(weight, (self.end - t_s) / self.ramp)
        return max(0.0, min(1.0, weight))


class Targets(_Strict):
    """Empty lists match everything; ``apis`` names flavours of ``API_FLAVOURS``."""

    deployments: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    apis: tuple[str, ...] = ()
    stream: bool | None = None

    @model_validator(mode="after")
    def _known_apis(self) -> Targets:
        unknown = [api for api in self.apis if api not in API_FLAVOURS]
        if unknown:
            raise ValueError(
                f"unknown API flavour {unknown[0]!r}; known flavours: {', '.join(API_FLAVOURS)}"
            )
        return self

    def match(self, deployment: str, model: str, api: str, stream: bool) -> bool:
        return (
            (not self.deployments or deployment in self.deployments)
            and (not self.models or model in self.models)
            and (not self.apis or api in self.apis)
            and (self.stream is None or self.stream == stream)
        )


class Rule(_Strict):
    kind: FaultKind
    probability: float = Field(default=1.0, ge=0, le=1)
    window: Window = Field(default_factory=Window)
    targets: Targets = Field(default_factory=Targets)
    #: Hit only attempts 1..N of a request (so a retrying client gets through).
    first_attempts: int | None = Field(default=None, ge=1)
    params: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_params(self) -> Rule:
        resolve_params(self.kind, self.params)
        return self

    def resolved_params(self) -> dict[str, float]:
        return resolve_params(self.kind, self.params)


class FaultProfile(_Strict):
    name: str = "custom"
    description: str = ""
    rule: tuple[Rule, ...] = ()


class ProfileError(ValueError):
    """A profile could not be loaded; ``str()`` is one line naming file, field and fix."""


def library() -> list[str]:
    """Names of the profiles shipped in faults/profiles/."""
    folder = resources.files("faults").joinpath("profiles")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def parse_profile(data: dict[str, Any], source: str) -> FaultProfile:
    try:
        return FaultProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(describe_validation_error(source, exc, enum_noun="fault kind")) from None


def load_profile(name_or_path: str) -> FaultProfile:
    """A shipped profile by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and name_or_path in library():
        text = resources.files("faults").joinpath(f"profiles/{name_or_path}.toml").read_text()
        source = f"fault profile '{name_or_path}'"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError(
                f"{name_or_path}: no such fault profile file, and not one of "
                f"the shipped profiles ({', '.join(library())})"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{name_or_path}: cannot read ({exc})") from None
        source = name_or_path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML ({exc})") from None
    data.setdefault("name", path.stem if path.suffix == ".toml" else name_or_path)
    return parse_profile(data, source)


def profile_from_json(raw: bytes, source: str = "PUT /tokenstorm/faults") -> FaultProfile:
    """The profile a swap request asks for: ``{"profile": "brownout"}`` (a shipped name or a
    path) or a whole profile object; ``ProfileError`` with one line otherwise."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ProfileError(f"{source}: not JSON ({exc})") from None
    if isinstance(document, dict) and isinstance(document.get("profile"), str):
        return load_profile(document["profile"])
    if isinstance(document, dict):
        return parse_profile(document, source)
    raise ProfileError(f"{source}: send a JSON object")
