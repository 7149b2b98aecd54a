"""Context growth to the model's window: a session's planned turns and its window settings in,
the same turns with overflowing ones rewritten to a truncated or summarised context out.

The plan cannot know the answers a model will give, so it counts each earlier answer at its
turn's ``max_tokens`` (an upper bound) and each turn's own answer at its ``max_tokens`` too.
When a turn would not fit, the oldest non-system turns go (``truncate``) or are replaced by
one summary message (``summarize``), and the turn is planned with ``resend_history`` false
and its whole context listed: system messages, the summary, the kept turns with an assistant
stand-in for each answer, then its own messages. The system prompt and the turn's own
messages are never dropped, so a turn too large on its own is sent over the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.contract.records import PlannedMessage
from workloads.kind_base import ContextWindowSettings
from workloads.session import SessionContext, Turn

#: Message slots of the stand-ins, far above any slot a builder uses for its own messages.
ANSWER_SLOT = 1000
SUMMARY_SLOT = 1001


@dataclass(frozen=True, slots=True)
class _Kept:
    """An earlier turn still in the context: its non-system messages and its answer."""

    messages: tuple[PlannedMessage, ...]
    answer: PlannedMessage

    @property
    def tokens(self) -> int:
        return _tokens(self.messages) + self.answer.tokens


def _tokens(messages: Sequence[PlannedMessage]) -> int:
    return sum(message.tokens for message in messages)


def _drop_oldest(kept: list[_Kept], budget_tokens: int) -> int:
    """Drop the oldest kept turns until the rest fit ``budget_tokens``; how many went."""
    dropped = 0
    while kept and sum(k.tokens for k in kept) > budget_tokens:
        kept.pop(0)
        dropped += 1
    return dropped


def fit_to_window(
    turns: Sequence[Turn], cfg: ContextWindowSettings, ctx: SessionContext
) -> list[Turn]:
    """``turns`` with each overflowing turn rewritten (see the module docstring)."""
    window = cfg.context_window_tokens
    if window is None or not turns:
        return list(turns)
    system = tuple(m for m in turns[0].messages if m.role == "system")
    kept: list[_Kept] = []
    summary: PlannedMessage | None = None
    planned: list[Turn] = []
    for turn_number, turn in enumerate(turns, start=1):
        own = tuple(m for m in turn.messages if turn_number > 1 or m.role != "system")
        fixed = _tokens(system) + _tokens(own) + turn.max_tokens
        dropped = _drop_oldest(kept, window - fixed - (summary.tokens if summary else 0))
        if dropped and cfg.on_overflow == "summarize":
            # The new summary stands for the old one and everything dropped now.
            summary = PlannedMessage(
                role="user",
                tokens=cfg.summary_tokens,
                seed=ctx.unique_seed(turn_number, SUMMARY_SLOT),
            )
            _drop_oldest(kept, window - fixed - summary.tokens)
        if dropped:
            context: list[PlannedMessage] = [*system]
            if summary is not None:
                context.append(summary)
            for earlier in kept:
                context.extend([*earlier.messages, earlier.answer])
            context.extend(own)
            planned.append(dataclasses.replace(turn, messages=tuple(context), resend_history=False))
        else:
            planned.append(turn)
        answer = PlannedMessage(
            role="assistant", tokens=turn.max_tokens, seed=ctx.unique_seed(turn_number, ANSWER_SLOT)
        )
        kept.append(_Kept(messages=own, answer=answer))
    return planned


class _Sent(Protocol):
    """A turn or planned request: what it adds, its answer budget, whether history goes too."""

    @property
    def messages(self) -> tuple[PlannedMessage, ...]: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def resend_history(self) -> bool: ...


def context_tokens(turns: Sequence[_Sent]) -> list[int]:
    """The context each of one session's ``turns`` (turns or planned requests) sends as the
    plan estimates it: re-sent history with earlier answers at their ``max_tokens``, plus its
    own messages (not its own answer)."""
    sizes: list[int] = []
    history = 0
    for turn in turns:
        if not turn.resend_history:
            history = 0
        history += _tokens(turn.messages)
        sizes.append(history)
        history += turn.max_tokens
    return sizes
