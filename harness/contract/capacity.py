"""Capacity planning settings: ``[projection]`` (the volume to price a run at, and the
self-hosted replica to compare with), validated with pydantic."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.contract.quantities import parse_rate_per_s

PerSecond = Annotated[float, BeforeValidator(parse_rate_per_s)]
Share = Annotated[float, Field(ge=0, le=1)]


class Projection(BaseModel):
    """What ``tokenstorm project`` prices a run at, and what it compares with.

    The volume is one of: ``users_per_day`` with ``requests_per_user``, ``requests_per_day``,
    ``rate`` (requests per second, sustained), or ``requests`` (a one-off count). A self-hosted
    comparison needs ``gpu_usd_per_hour`` and one replica source: ``replica_profile`` (a shipped
    mock profile or a profile TOML), ``replica_rps`` or ``replica_run`` (a run or sweep
    directory).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    users_per_day: float | None = Field(default=None, gt=0)
    requests_per_user: float | None = Field(default=None, gt=0)
    requests_per_day: float | None = Field(default=None, gt=0)
    rate: PerSecond | None = Field(default=None, gt=0)
    requests: float | None = Field(default=None, gt=0)
    days_per_month: float = Field(default=30.0, gt=0)
    cache_hit_rates: tuple[Share, ...] = (0.0, 0.25, 0.5, 0.75, 0.9)
    retry_waste: tuple[Annotated[float, Field(ge=0)], ...] = (0.0, 0.05, 0.25, 1.0)
    gpu_usd_per_hour: float | None = Field(default=None, ge=0)
    gpus_per_replica: int | None = Field(default=None, ge=1)
    replica_profile: str | None = None
    replica_rps: PerSecond | None = Field(default=None, gt=0)
    replica_run: str | None = None

    @model_validator(mode="after")
    def _one_volume_and_one_replica(self) -> Projection:
        if (self.users_per_day is None) != (self.requests_per_user is None):
            raise ValueError("give users_per_day and requests_per_user together")
        volumes = [
            name
            for name, given in (
                ("users_per_day", self.users_per_day is not None),
                ("requests_per_day", self.requests_per_day is not None),
                ("rate", self.rate is not None),
                ("requests", self.requests is not None),
            )
            if given
        ]
        if len(volumes) != 1:
            raise ValueError(
                "give one volume: users_per_day with requests_per_user, requests_per_day, "
                "rate or requests" + (f" (not {' and '.join(volumes)})" if volumes else "")
            )
        sources = [
            name
            for name in ("replica_profile", "replica_rps", "replica_run")
            if getattr(self, name) is not None
        ]
        if len(sources) > 1:
            raise ValueError(f"give one replica source, not {' and '.join(sources)}")
        if sources and self.gpu_usd_per_hour is None:
            raise ValueError(f"{sources[0]} needs gpu_usd_per_hour to compare costs")
        if self.gpu_usd_per_hour is not None and not sources:
            raise ValueError(
                "gpu_usd_per_hour needs a replica: replica_profile, replica_rps or replica_run"
            )
        return self
