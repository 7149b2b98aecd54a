"""Shipped latency profiles of the mock: a profile name in; the deployment fields of
``mock_models/profiles/<name>.toml`` (each file cites the published figures it comes from) out.

A deployment names one with ``profile = "8b-h100"`` and overrides any field beside it; fields
of its ``engine`` table are merged one by one, so ``engine = { max_num_seqs = 8 }`` keeps the
profile's step costs.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any


def profile_names() -> tuple[str, ...]:
    """The shipped profiles, sorted."""
    folder = resources.files("mock_models") / "profiles"
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        )
    )


@functools.cache
def _load(name: str) -> Mapping[str, Any]:
    return tomllib.loads(
        (resources.files("mock_models") / "profiles" / f"{name}.toml").read_text(encoding="utf-8")
    )


def with_profile(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` on top of the profile it names (if any); raises ``ValueError`` if unknown."""
    name = fields.get("profile")
    if name is None:
        return dict(fields)
    if not isinstance(name, str) or name not in profile_names():
        raise ValueError(f"unknown profile {name!r}; shipped: {', '.join(profile_names())}")
    base = dict(_load(name))
    merged = {**base, **fields}
    base_engine, engine = base.get("engine"), fields.get("engine")
    if isinstance(base_engine, dict) and isinstance(engine, Mapping):
        merged["engine"] = {**base_engine, **engine}
    return merged
