"""Provider usage objects in, the prompt / cached / cache-write / completion token counts out:
one reading for the client (``harness.client.flavours``) and the fault proxy (what passed it).

Pure. Anthropic's ``input_tokens`` leaves out the tokens read from and written to the cache;
ours is the whole prompt, so the three are added. A usage object may come in parts (Anthropic's
``message_start`` then ``message_delta``): a count it does not carry is left as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

ANTHROPIC_API = "anthropic-messages"


class TokenCounts(Protocol):
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    cache_write_tokens: int | None


def read_usage(api: str, usage: Mapping[str, Any], into: TokenCounts) -> None:
    """Set ``into``'s counts from one usage object of ``api``'s wire format."""
    if api == ANTHROPIC_API:
        if "input_tokens" in usage:
            cached = usage.get("cache_read_input_tokens") or 0
            written = usage.get("cache_creation_input_tokens") or 0
            into.prompt_tokens = usage["input_tokens"] + cached + written
            into.cached_tokens, into.cache_write_tokens = cached, written
        if "output_tokens" in usage:
            into.completion_tokens = usage["output_tokens"]
        return
    into.prompt_tokens = usage.get("prompt_tokens", into.prompt_tokens)
    into.completion_tokens = usage.get("completion_tokens", into.completion_tokens)
    details = usage.get("prompt_tokens_details")
    into.cached_tokens = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
