"""What one turn sends of its own: its planned messages in text (sized by the configured
tokenizer: the mock's words, or ``[target] tokenizer``), the last user message tagged with
``[tokenstorm run=.. request=..]`` when the run asks for it; and what it sends in all, after
the session's history."""

from __future__ import annotations

from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.records import PlannedRequest
from harness.engine_config import EngineConfig


def turn_prompt(
    request: PlannedRequest,
    config: EngineConfig,
    history: list[dict[str, str]],
    history_tokens: int,
) -> tuple[list[dict[str, str]], int]:
    """The messages ``request`` sends and their prompt tokens: its own after the session's
    ``history``; alone for an embeddings request (sent beside the conversation) and for a
    turn whose plan lists its whole context (``resend_history`` false)."""
    added = own_messages(request, config)
    count = config.tokenizer.count
    own_tokens = sum(count(m["content"]) for m in added)
    if request.api == OPENAI_EMBEDDINGS or not request.resend_history:
        return added, own_tokens
    return history + added, history_tokens + own_tokens


def own_messages(request: PlannedRequest, config: EngineConfig) -> list[dict[str, str]]:
    """``request``'s own messages as sent (history not included)."""
    tokenizer = config.tokenizer
    added = [
        {"role": m.role, "content": m.content or tokenizer.text(m.tokens, m.seed)}
        for m in request.messages
    ]
    if config.tag_prompt:
        added = tag_messages(added, config.run_id, request.request_id)
    return added


def tag_messages(
    messages: list[dict[str, str]], run_id: str, request_id: str
) -> list[dict[str, str]]:
    """``messages`` (one turn's own) with ``[tokenstorm run=.. request=..]`` at the end of the
    last user message. At the end, because what comes before it (system prompt, shared prefix,
    documents, history) must stay byte-identical across requests for prefix caches to hit, and
    because the mock takes the request id only from the newest tag in the prompt's last piece;
    the tag's words are part of the prompt, counted like any other."""
    tag = f"[tokenstorm run={run_id} request={request_id}]"
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message["role"] == "user":
            content = message["content"]
            tagged = {**message, "content": f"{content} {tag}" if content else tag}
            return [*messages[:index], tagged, *messages[index + 1 :]]
    return messages
