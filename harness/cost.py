"""Prices and cost: the pinned LiteLLM snapshot plus scenario prices in, USD per attempt out.

Resolution order for an attempt served by ``(model, deployment)``: a scenario price keyed by
the deployment, then one keyed by the model, then the shipped defaults for the mock's
deployments and models, then the snapshot entry whose name is the model itself. When none
applies the cost is ``None``: callers report the model as unpriced instead of counting 0.

Cost of one attempt, prices in USD per token::

    (prompt - cached - cache_write) * input + cached * cache_read + cache_write * cache_creation
    + completion * output

(a cache price missing from the entry is the input price: what a provider without one bills),
over the tokens ``billed_tokens`` says the attempt is billed for (refusals cost nothing).

Refresh the snapshot with ``python -m harness.prices_refresh`` (never edit it by hand).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from harness.contract.outcomes import Outcome
from harness.contract.terms import Price

SNAPSHOT_RESOURCE = "model_prices.json"

#: The mock's deployments and models, billed like the real models they imitate.
DEFAULT_PRICE_AS: Mapping[str, str] = {
    "small-fast": "gpt-4o-mini",
    "mock-small": "gpt-4o-mini",
    "large-slow": "gpt-4o",
    "mock-large": "gpt-4o",
}

_PER_MTOK = 1e-6


@dataclass(frozen=True, slots=True)
class BilledTokens:
    """The tokens of one attempt a provider bills (``cached`` and ``cache_write`` are parts of
    ``prompt``)."""

    prompt: int
    cached: int
    cache_write: int
    completion: int


NOT_BILLED = BilledTokens(0, 0, 0, 0)


def billed_tokens(
    outcome: str,
    prompt_tokens: int,
    cached_tokens: int,
    cache_write_tokens: int,
    completion_tokens: int,
) -> BilledTokens:
    """What one attempt is billed for, by how it ended: only what the upstream processed.

    - ``ok``: everything it reported, prompt and completion (an answer without completion
      tokens, an embedding, still bills its prompt).
    - any other outcome after at least one generated token (``stream_cut``, ``stream_error``,
      ``reset``, ``timeout_stream``, ``protocol_error``, a client that gave up or was cancelled
      mid-stream): the prefill and the tokens generated, prompt + completion.
    - any other outcome with no generated token: nothing. A refusal (``http_429``,
      ``http_4xx``, ``http_5xx`` including 529) is answered before the model runs; a
      connection that failed (``connect_error``, ``timeout_connect``) or a request never sent
      (``dropped``) never reached it; an attempt that timed out or was cancelled before its
      first token (``timeout_first_token``, ``cancelled``) produced nothing to bill.

    Providers bill tokens processed and do not charge refused requests (Azure OpenAI states it
    for 429s; Novita's billing page lists 4xx, 429 and 5xx as free and a client disconnect
    after the model started as billed). A provider that bills a prompt rejected by its content
    filter, or the prefill of a request cancelled before its first token, bills more than this.
    """
    if outcome != Outcome.OK and completion_tokens <= 0:
        return NOT_BILLED
    return BilledTokens(
        max(prompt_tokens, 0),
        max(cached_tokens, 0),
        max(cache_write_tokens, 0),
        max(completion_tokens, 0),
    )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per token for one model, and a short note on where the figures come from."""

    input_usd_per_token: float
    output_usd_per_token: float
    cache_read_usd_per_token: float | None
    cache_creation_usd_per_token: float | None
    source: str

    def cost_usd(
        self,
        prompt_tokens: int,
        cached_tokens: int,
        completion_tokens: int,
        cache_write_tokens: int = 0,
    ) -> float:
        prompt = max(prompt_tokens, 0)
        cached = min(max(cached_tokens, 0), prompt)
        written = min(max(cache_write_tokens, 0), prompt - cached)
        cache_read = (
            self.cache_read_usd_per_token
            if self.cache_read_usd_per_token is not None
            else self.input_usd_per_token
        )
        cache_write = (
            self.cache_creation_usd_per_token
            if self.cache_creation_usd_per_token is not None
            else self.input_usd_per_token
        )
        return (
            (prompt - cached - written) * self.input_usd_per_token
            + cached * cache_read
            + written * cache_write
            + max(completion_tokens, 0) * self.output_usd_per_token
        )

    def as_dict(self) -> dict[str, Any]:
        """Prices per million tokens (the unit people compare), for summary.json."""

        def per_mtok(value: float | None) -> float | None:
            # Rounded so that 2.5e-06 per token reads 2.5, not 2.5000000000000004.
            return None if value is None else round(value / _PER_MTOK, 9)

        return {
            "source": self.source,
            "input_usd_per_mtok": per_mtok(self.input_usd_per_token),
            "output_usd_per_mtok": per_mtok(self.output_usd_per_token),
            "cache_read_usd_per_mtok": per_mtok(self.cache_read_usd_per_token),
            "cache_write_usd_per_mtok": per_mtok(self.cache_creation_usd_per_token),
        }


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Resolved prices: ``named`` (scenario and default mappings) over the ``snapshot``."""

    snapshot: Mapping[str, ModelPrice]
    named: Mapping[str, ModelPrice]
    snapshot_info: Mapping[str, str]

    def price_for(self, model: str | None, deployment: str | None) -> ModelPrice | None:
        """The price that applies to an attempt, or None when nothing is known."""
        for key in (deployment, model):
            if key is not None and key in self.named:
                return self.named[key]
        if model is not None:
            return self.snapshot.get(model)
        return None

    def cost_usd(
        self,
        model: str | None,
        deployment: str | None,
        prompt_tokens: int,
        cached_tokens: int,
        completion_tokens: int,
        cache_write_tokens: int = 0,
    ) -> float | None:
        """USD for one attempt, or None when no price is known for it."""
        price = self.price_for(model, deployment)
        if price is None:
            return None
        return price.cost_usd(prompt_tokens, cached_tokens, completion_tokens, cache_write_tokens)


def _snapshot_price(name: str, entry: Mapping[str, Any], source: str) -> ModelPrice:
    return ModelPrice(
        input_usd_per_token=float(entry["input_cost_per_token"]),
        output_usd_per_token=float(entry["output_cost_per_token"]),
        cache_read_usd_per_token=_optional_float(entry.get("cache_read_input_token_cost")),
        cache_creation_usd_per_token=_optional_float(entry.get("cache_creation_input_token_cost")),
        source=source,
    )


def _optional_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def read_snapshot() -> tuple[dict[str, ModelPrice], dict[str, str]]:
    """The shipped snapshot as prices by model name, and its ``_snapshot`` description."""
    data_dir = resources.files("harness").joinpath("data")
    text = data_dir.joinpath(SNAPSHOT_RESOURCE).read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    info = {str(k): str(v) for k, v in raw.pop("_snapshot", {}).items()}
    prices = {name: _snapshot_price(name, entry, f"snapshot {name}") for name, entry in raw.items()}
    return prices, info


def _price_as(
    name: str, real_model: str, snapshot: Mapping[str, ModelPrice], origin: str
) -> ModelPrice:
    real = snapshot.get(real_model)
    if real is None:
        close = difflib.get_close_matches(real_model, list(snapshot), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"prices.{name}: price_as {real_model!r} is not a model in the price snapshot{hint}"
        )
    return ModelPrice(
        real.input_usd_per_token,
        real.output_usd_per_token,
        real.cache_read_usd_per_token,
        real.cache_creation_usd_per_token,
        source=f"{origin} price_as {real_model}",
    )


def _explicit(name: str, price: Price) -> ModelPrice:
    if price.input_per_mtok is None or price.output_per_mtok is None:
        missing = "output_per_mtok" if price.input_per_mtok is not None else "input_per_mtok"
        raise ValueError(f"prices.{name}: give {missing} too (write 0 if it is really free)")
    cached = price.cached_input_per_mtok
    written = price.cache_write_per_mtok
    return ModelPrice(
        input_usd_per_token=price.input_per_mtok * _PER_MTOK,
        output_usd_per_token=price.output_per_mtok * _PER_MTOK,
        cache_read_usd_per_token=None if cached is None else cached * _PER_MTOK,
        cache_creation_usd_per_token=None if written is None else written * _PER_MTOK,
        source="scenario explicit USD per Mtok",
    )


def load_price_book(overrides: Mapping[str, Price]) -> PriceBook:
    """Prices for a run: the snapshot, the shipped mock defaults, then scenario ``overrides``.

    Raises ``ValueError`` naming the entry when a ``price_as`` model is not in the snapshot
    (with close names as suggestions) or when explicit prices are incomplete.
    """
    snapshot, info = read_snapshot()
    named: dict[str, ModelPrice] = {
        name: _price_as(name, real, snapshot, "default") for name, real in DEFAULT_PRICE_AS.items()
    }
    for name, price in overrides.items():
        if price.price_as is not None:
            named[name] = _price_as(name, price.price_as, snapshot, "scenario")
        else:
            named[name] = _explicit(name, price)
    return PriceBook(snapshot=snapshot, named=named, snapshot_info=info)
