"""The wire APIs by name, as plans, records and ledgers spell them: the one place the names
are written (``harness.api.registry`` maps each to its implementation)."""

from __future__ import annotations

from typing import Final

OPENAI_CHAT: Final = "openai-chat"
OPENAI_COMPLETIONS: Final = "openai-completions"
OPENAI_EMBEDDINGS: Final = "openai-embeddings"
ANTHROPIC_MESSAGES: Final = "anthropic-messages"

#: The APIs a scenario's client speaks (``[target] api``).
CLIENT_APIS: Final = (OPENAI_CHAT, ANTHROPIC_MESSAGES)

#: The APIs a plan may send beside the client's own, each through a client of its own on the
#: same target (embeddings: the ``embed`` kind, rag's ``embed_query``). Both engines build one
#: client per API here; ``harness.session_flow.steps.Senders`` picks one per attempt.
SIDE_APIS: Final = (OPENAI_EMBEDDINGS,)
