"""Settings of the mock model server: its deployments, latency and fault profile.

Validated at the edge (TOML ``[mock]`` section of a scenario, ``tokenstorm mock --config``,
quick flags); the server itself only reads the frozen result.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faults.profile import FaultProfile, ProfileError, load_profile
from mock_models.profiles import with_profile

#: Accept requests for any model name (the quick-flag constant deployment).
ANY_MODEL = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Strict):
    """An iteration-level engine (continuous batching) for one deployment.

    Each step costs ``step_base_ms + prefill_ms_per_token * uncached prompt tokens in the step
    + decode_ms_per_seq * decoding sequences``, times the deployment's jitter; every running
    stream gets one token per step. Defaults: vLLM's scheduler limits and the BLIS fit of an
    8B model on one H100 (see ``mock_models/profiles``).
    """

    max_num_seqs: int = Field(default=256, ge=1)
    #: Requests waiting for a slot; one more is refused with ``queue_full_status``.
    max_waiting_seqs: int = Field(default=1000, ge=0)
    queue_full_status: Literal[429, 503] = 429
    max_num_batched_tokens: int = Field(default=2048, ge=1)
    step_base_ms: float = Field(default=5.75, ge=0)
    prefill_ms_per_token: float = Field(default=0.01725, ge=0)
    decode_ms_per_seq: float = Field(default=0.006, ge=0)
    #: Tokenising and scheduling before a request reaches the queue (BLIS's alpha0).
    api_overhead_ms: float = Field(default=0.0, ge=0)
    #: What the engine does when a client disconnects: stop the sequence (vLLM) or finish it.
    on_disconnect: Literal["abort", "finish"] = "abort"
    #: Prefix cache: prompt blocks of this many tokens, at most ``prefix_cache_blocks`` kept
    #: (least recently used evicted); 0 blocks turns caching off.
    block_size_tokens: int = Field(default=16, ge=1)
    prefix_cache_blocks: int = Field(default=0, ge=0)
    #: KV cache of the running sequences, in tokens (prompt + generated each); when a step
    #: would overflow it the newest sequence is preempted and recomputed, as in vLLM.
    #: 0: unbounded.
    kv_capacity_tokens: int = Field(default=0, ge=0)


class RateLimitSettings(_Strict):
    """One provider-style limit: requests and/or tokens per minute, for each API key
    (``per = "key"``) or for the whole deployment. A request's tokens are its prompt plus its
    ``max_tokens`` (or the deployment's median output), as providers estimate them."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    per: Literal["key", "deployment"] = "deployment"

    @model_validator(mode="after")
    def _something(self) -> RateLimitSettings:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("a rate limit needs requests_per_minute or tokens_per_minute")
        return self


#: Fields of the constant latency model, meaningless for an engine deployment.
_CONSTANT_ONLY = ("ttft_ms", "prefill_ms_per_token", "itl_ms", "itl_growth_per_min")


class DeploymentSettings(_Strict):
    """One deployment: the model name it serves and its latency profile.

    Without ``engine``, the constant model: ``ttft_ms + prefill_ms_per_token *
    prompt_tokens`` before the first token, then ``itl_ms`` between tokens, each drawn with a
    relative ``jitter`` (standard deviation as a share of the mean, truncated at +-3 sigma),
    whatever the load. With ``engine``, latency comes out of the batching engine (and
    ``jitter`` applies to its step times).
    """

    name: str
    model: str
    #: A shipped profile (``mock_models/profiles/<profile>.toml``) the other fields override.
    profile: str | None = None
    ttft_ms: float = Field(default=60.0, ge=0)
    prefill_ms_per_token: float = Field(default=0.02, ge=0)
    itl_ms: float = Field(default=12.0, ge=0)
    #: A slow degradation to soak-test against: the mean ITL grows by this share per minute
    #: of the run's clock, compounded (0.01: 1 % a minute, x1.82 after an hour).
    itl_growth_per_min: float = Field(default=0.0, ge=0, le=1)
    jitter: float = Field(default=0.1, ge=0, le=1)
    #: Output length when ``max_tokens`` leaves room: drawn from a lognormal with this median
    #: (and ``output_tokens_sigma``); ``output_tokens_sigma = 0`` makes it constant.
    output_tokens: int = Field(default=128, ge=1)
    output_tokens_sigma: float = Field(default=0.5, ge=0)
    #: Share of answers that call a tool when tools are offered and the choice is "auto".
    tool_call_share: float = Field(default=0.5, ge=0, le=1)
    #: Length of the vectors ``/v1/embeddings`` answers with (a request's ``dimensions``
    #: may ask for fewer); 1536 as OpenAI's text-embedding-3-small.
    embedding_dimensions: int = Field(default=1536, ge=1, le=65536)
    engine: EngineSettings | None = None
    rate_limits: tuple[RateLimitSettings, ...] = ()
    #: A listener of its own (0: any free port), beside the server's shared one, that serves
    #: only this deployment: replicas of one model on separate ports, and a ``down`` fault
    #: that closes it (clients get ECONNREFUSED) instead of resetting connections.
    port: int | None = Field(default=None, ge=0, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        return with_profile(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _one_latency_model(self) -> DeploymentSettings:
        if self.engine is not None:
            # A dumped engine deployment carries the defaults; only a changed value is a mistake.
            clash = [
                name
                for name in _CONSTANT_ONLY
                if getattr(self, name) != type(self).model_fields[name].default
            ]
            if clash:
                raise ValueError(
                    f"{clash[0]} belongs to the constant latency model; with an "
                    "engine set step_base_ms, prefill_ms_per_token and "
                    "decode_ms_per_seq in its engine table instead"
                )
        return self


def default_deployments() -> tuple[DeploymentSettings, ...]:
    """A small fast cheap model and a large slow one (priced as gpt-4o-mini and gpt-4o), each
    an iteration-level engine with a shipped profile."""
    return (
        DeploymentSettings.model_validate(
            {"name": "small-fast", "model": "mock-small", "profile": "8b-h100"}
        ),
        DeploymentSettings.model_validate(
            {"name": "large-slow", "model": "mock-large", "profile": "70b-h100-tp8"}
        ),
    )


class MockSettings(_Strict):
    #: None: the scenario's seed (or 0 for `tokenstorm mock`).
    seed: int | None = None
    deployments: tuple[DeploymentSettings, ...] = Field(default_factory=default_deployments)
    #: The fault profile (``faults/profile.py``): a shipped name (``faults = "brownout"``), a
    #: TOML path, or a profile table with its ``rule`` entries; None: no faults.
    faults: FaultProfile | None = None
    #: When set, a request must carry one of these (``authorization: Bearer`` or
    #: ``x-api-key``) or gets the provider's 401.
    api_keys: tuple[str, ...] = ()
    #: ``/ready`` answers 503 for this long after start, as a server loading its model would.
    startup_s: float = Field(default=0.0, ge=0)
    #: Processes of ``tokenstorm mock``, each a full replica on the same port; ``"auto"``:
    #: one per core (``mock_models.fleet``).
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = 1

    @model_validator(mode="before")
    @classmethod
    def _profile_by_name(cls, data: Any) -> Any:
        """``faults = "brownout"``: a shipped profile's name, or a TOML file's path."""
        if isinstance(data, dict) and isinstance(data.get("faults"), str):
            try:
                data = {**data, "faults": load_profile(data["faults"])}
            except ProfileError as exc:
                raise ValueError(str(exc)) from None
        return data

    @model_validator(mode="after")
    def _unique(self) -> MockSettings:
        names = [d.name for d in self.deployments]
        # Replicas of one model are told apart by their own ports; on the shared listener
        # the first deployment of a model answers it.
        shared = [d.model for d in self.deployments if d.port is None]
        ports = [d.port for d in self.deployments if d.port]
        if not self.deployments:
            raise ValueError("at least one deployment is needed")
        if len(set(names)) != len(names) or len(set(shared)) != len(shared):
            raise ValueError(
                "deployment names must be unique, and so must the models of "
                "deployments without a port of their own"
            )
        if len(set(ports)) != len(ports):
            raise ValueError(
                "two deployments cannot listen on the same port; give each "
                "its own, or 0 for any free one"
            )
        return self

    def worker_count(self) -> int:
        """How many worker processes ``workers`` means here."""
        if self.workers == "auto":
            return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return self.workers

    def deployment_for(self, model: str, own: str | None = None) -> DeploymentSettings | None:
        """The deployment serving ``model`` (a ``*`` deployment serves any name); on the own
        listener of deployment ``own``, that deployment or none."""
        for deployment in self.deployments:
            if own is not None and deployment.name != own:
                continue
            if deployment.model == model or deployment.model == ANY_MODEL:
                return deployment
        return None


def constant_settings(
    ttft_ms: float, itl_ms: float, output_tokens: int, seed: int = 0
) -> MockSettings:
    """The quick-flag deployment: exact timing, fixed output length, any model name, no faults."""
    deployment = DeploymentSettings(
        name="constant",
        model=ANY_MODEL,
        ttft_ms=ttft_ms,
        prefill_ms_per_token=0.0,
        itl_ms=itl_ms,
        jitter=0.0,
        output_tokens=output_tokens,
        output_tokens_sigma=0.0,
    )
    return MockSettings(seed=seed, deployments=(deployment,))
