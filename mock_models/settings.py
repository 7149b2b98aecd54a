"""Settings of the mock model server: its deployments, latency and demo faults.

Validated at the edge (TOML ``[mock]`` section of a scenario, ``tokenstorm mock --config``,
quick flags); the server itself only reads the frozen result.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Accept requests for any model name (the quick-flag constant deployment).
ANY_MODEL = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentSettings(_Strict):
    """One deployment: the model name it serves and its latency profile.

    Latency of one attempt: ``ttft_ms + prefill_ms_per_token * prompt_tokens`` before the
    first token, then ``itl_ms`` between tokens, each drawn with a relative ``jitter``
    (standard deviation as a share of the mean, truncated at +-3 sigma).
    """

    name: str
    model: str
    ttft_ms: float = Field(default=60.0, ge=0)
    prefill_ms_per_token: float = Field(default=0.02, ge=0)
    itl_ms: float = Field(default=12.0, ge=0)
    jitter: float = Field(default=0.1, ge=0, le=1)
    #: Output length when ``max_tokens`` leaves room: drawn from a lognormal with this median
    #: (and ``output_tokens_sigma``); ``output_tokens_sigma = 0`` makes it constant.
    output_tokens: int = Field(default=128, ge=1)
    output_tokens_sigma: float = Field(default=0.5, ge=0)


class DemoFaults(_Strict):
    """Probabilities, per attempt, of the demo's faults (their sum must be <= 1)."""

    http_429: float = Field(default=0.0, ge=0, le=1)
    http_500: float = Field(default=0.0, ge=0, le=1)
    http_503: float = Field(default=0.0, ge=0, le=1)
    cut: float = Field(default=0.0, ge=0, le=1)
    #: ``retry-after`` sent with the 429s, in seconds (also as ``retry-after-ms``).
    retry_after_s: float = Field(default=1.0, ge=0)
    #: A cut stream ends (without its terminator) after this many tokens.
    cut_after_tokens: int = Field(default=8, ge=0)

    @model_validator(mode="after")
    def _shares_fit(self) -> DemoFaults:
        total = self.http_429 + self.http_500 + self.http_503 + self.cut
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:.3f}; they must be <= 1")
        return self


def default_deployments() -> tuple[DeploymentSettings, ...]:
    """A small fast cheap model and a large slow one (priced as gpt-4o-mini and gpt-4o)."""
    return (
        DeploymentSettings(name="small-fast", model="mock-small", ttft_ms=50.0,
                           prefill_ms_per_token=0.01, itl_ms=8.0, output_tokens=96),
        DeploymentSettings(name="large-slow", model="mock-large", ttft_ms=150.0,
                           prefill_ms_per_token=0.04, itl_ms=25.0, output_tokens=160),
    )


class MockSettings(_Strict):
    #: None: the scenario's seed (or 0 for `tokenstorm mock`).
    seed: int | None = None
    deployments: tuple[DeploymentSettings, ...] = Field(default_factory=default_deployments)
    faults: DemoFaults = Field(default_factory=DemoFaults)

    @model_validator(mode="after")
    def _unique(self) -> MockSettings:
        names = [d.name for d in self.deployments]
        models = [d.model for d in self.deployments]
        if not self.deployments:
            raise ValueError("at least one deployment is needed")
        if len(set(names)) != len(names) or len(set(models)) != len(models):
            raise ValueError("deployment names and models must be unique")
        return self

    def deployment_for(self, model: str) -> DeploymentSettings | None:
        """The deployment serving ``model`` (a ``*`` deployment serves any name)."""
        for deployment in self.deployments:
            if deployment.model == model or deployment.model == ANY_MODEL:
                return deployment
        return None


def constant_settings(
    ttft_ms: float, itl_ms: float, output_tokens: int, seed: int = 0
) -> MockSettings:
    """The quick-flag deployment: exact timing, fixed output length, any model name, no faults."""
    deployment = DeploymentSettings(
        name="constant", model=ANY_MODEL, ttft_ms=ttft_ms, prefill_ms_per_token=0.0,
        itl_ms=itl_ms, jitter=0.0, output_tokens=output_tokens, output_tokens_sigma=0.0,
    )
    return MockSettings(seed=seed, deployments=(deployment,))
