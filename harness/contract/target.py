"""Where and how a run sends: ``[target]`` and ``[client.retry]`` of a scenario, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.contract.apis import ANTHROPIC_MESSAGES, CLIENT_APIS, OPENAI_CHAT
from harness.contract.quantities import parse_duration_s

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]

DEFAULT_KEY_ENV: dict[str, str] = {
    OPENAI_CHAT: "OPENAI_API_KEY",
    ANTHROPIC_MESSAGES: "ANTHROPIC_API_KEY",
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
    #: The wire API spoken, one of ``harness.contract.apis.CLIENT_APIS``.
    api: str = OPENAI_CHAT
    model: str | None = None
    api_key_env: str | None = None
    timeout: Seconds = 60.0
    connect_timeout: Seconds = 5.0
    first_token_timeout: Seconds | None = None
    stream: bool = True
    ledger: str | None = None
    #: The client's connection pool; None: sized from the plan's expected concurrency.
    max_connections: int | None = Field(default=None, ge=1)
    tag_prompt: bool = False
    #: The similarity a semantic cache between us and the upstream answers from, if known:
    #: ``gateway_cache`` counts a hit on a request planned less similar as a false hit.
    cache_similarity_threshold: float | None = Field(default=None, ge=0, le=1)
    #: Anthropic prompt-cache breakpoints the client places: "off", "system" (the system
    #: prompt) or "conversation" (the system prompt and each request's last message).
    cache_control: Literal["off", "system", "conversation"] = "off"
    #: A local Hugging Face ``tokenizer.json`` prompts are sized and counted in; None: the
    #: mock's whitespace words. Relative to the scenario file's folder.
    tokenizer: str | None = None

    @field_validator("api")
    @classmethod
    def _known_api(cls, api: str) -> str:
        if api not in CLIENT_APIS:
            raise ValueError(f"api {api!r} is not one of {', '.join(CLIENT_APIS)}")
        return api

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Made absolute against the scenario's folder, and checked to exist, when read from
        a scenario file (a run's manifest keeps the absolute path, checked when it runs)."""
        if value is None:
            return None
        context = info.context if isinstance(info.context, dict) else {}
        base_dir = context.get("base_dir")
        if not isinstance(base_dir, Path):
            return value
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise ValueError(f"no tokenizer file '{value}' (looked in {path.parent})")
        return str(path.resolve())

    @model_validator(mode="after")
    def _url_scheme(self) -> Target:
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        if self.cache_control != "off" and self.api != ANTHROPIC_MESSAGES:
            raise ValueError(
                f"cache_control = {self.cache_control!r} needs api = "
                f"{ANTHROPIC_MESSAGES!r} (OpenAI caches prefixes by itself)"
            )
        return self

    @property
    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV[self.api]
