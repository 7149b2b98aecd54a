"""The registration point of the wire APIs: an API name in, a new object implementing
``WireApi`` for it out (``wire_api``); a request path in, the API it speaks out (``api_for_path``).

A new API is one module implementing ``WireApi`` and one line in ``_FACTORIES``. Each call
makes a new object: an API object keeps the token tables its streams share, so each user
(one mock server, one client) holds its own and no table outlives it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from harness.api.anthropic_messages import AnthropicMessages
from harness.api.openai_chat import OpenAIChat
from harness.api.openai_completions import OpenAICompletions
from harness.api.openai_embeddings import OpenAIEmbeddings
from harness.api.wire_api import WireApi

_FACTORIES: Final[tuple[Callable[[], WireApi], ...]] = (
    OpenAIChat,
    OpenAICompletions,
    OpenAIEmbeddings,
    AnthropicMessages,
)

#: Every API by name, in registration order.
WIRE_APIS: Final[Mapping[str, Callable[[], WireApi]]] = MappingProxyType(
    {factory().name: factory for factory in _FACTORIES}
)

#: (path, API) with longer paths first, so ``/chat/completions`` wins over ``/completions``.
_BY_PATH: Final = tuple(
    sorted(
        ((factory().path, name) for name, factory in WIRE_APIS.items()), key=lambda p: -len(p[0])
    )
)


def wire_api(name: str) -> WireApi:
    """A new object for the API ``name``; ``ValueError`` naming the known APIs otherwise."""
    try:
        factory = WIRE_APIS[name]
    except KeyError:
        raise ValueError(f"unknown api {name!r}: use one of {', '.join(WIRE_APIS)}") from None
    return factory()


def api_for_path(path: str) -> str | None:
    """The API a request path speaks (``/v1/messages`` → ``anthropic-messages``), or None."""
    path = path.rstrip("/")
    for suffix, name in _BY_PATH:
        if path.endswith(suffix):
            return name
    return None
