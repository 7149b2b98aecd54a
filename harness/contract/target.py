"""Where and how a run sends: ``[target]`` and ``[client.retry]`` of a scenario, validated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.contract.quantities import parse_duration_s

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]
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
