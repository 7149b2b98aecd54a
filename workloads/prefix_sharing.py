"""Shared prompt prefixes of a plan: planned requests in, for each request the tokens of its
prompt that other sessions also send as a prefix, and that earlier requests already sent.

A request's prompt is what the engine will send, as the plan knows it: a turn that re-sends
its history sends every earlier turn's messages and answers, then its own; a turn with
``resend_history`` false sends its listed messages only (a truncated or summarised context,
whose re-listed messages sit at new positions and so match earlier prompts no further than
they really do). Answers are unknown at plan time: they count 0 tokens but still end a match,
since no other prompt holds them at that place. Messages of equal role and seed share text
word by word (``synthetic_text`` is prefix-stable), so two such messages of different sizes
share the smaller size and the match ends there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from harness.records import PlannedMessage, PlannedRequest

#: (role, seed, literal content) of a message; the answer to request R is ("answer", 0, R).
_Key = tuple[str, int, str]
_Part = tuple[_Key, int]  # a key and its tokens


@dataclass(slots=True)
class _Node:
    """A prompt prefix: the first plan index that sends it and up to two sessions that do."""

    first: int
    owners: list[str] = field(default_factory=list)
    children: dict[_Key, dict[int, _Node]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PrefixShare:
    """Per request, in plan order: its prompt tokens, the part of them that is a prefix some
    other session sends too (at any time), and the part some earlier request (in plan order,
    its own session's included) sent: what an unbounded prefix cache could serve."""

    prompt_tokens: tuple[int, ...]
    cross_session_tokens: tuple[int, ...]
    earlier_tokens: tuple[int, ...]


def _part(message: PlannedMessage) -> _Part:
    # An empty message is the same text whatever its seed.
    seed = message.seed if message.tokens or message.content else 0
    return (message.role, seed, message.content), message.tokens


@dataclass(frozen=True, slots=True)
class _Turn:
    """One request's prompt: ``context[:end]``. A turn that re-sends its history shares its
    session's ``context`` list, and ``context[:start]`` is the previous turn's prompt."""

    index: int
    session: str
    context: list[_Part]
    start: int
    end: int


def _session_turns(plan: Sequence[PlannedRequest]) -> Iterator[list[_Turn]]:
    """The prompts of each session's requests, in turn order."""
    sessions: dict[str, list[int]] = {}
    for index, request in enumerate(plan):
        sessions.setdefault(request.session_id, []).append(index)
    for session, indices in sessions.items():
        context: list[_Part] = []
        previous: PlannedRequest | None = None
        turns: list[_Turn] = []
        for index in sorted(indices, key=lambda i: plan[i].turn):
            request = plan[index]
            if not request.resend_history or previous is None:
                context = []
            else:
                context.append((("answer", 0, previous.request_id), 0))
            start = len(context) - 1 if context else 0
            context.extend(_part(message) for message in request.messages)
            turns.append(_Turn(index, session, context, start, len(context)))
            previous = request
        yield turns


def _insert(node: _Node, parts: Sequence[_Part], index: int, session: str) -> _Node:
    """Add ``parts`` below ``node``; the node of the whole prompt."""
    for key, tokens in parts:
        by_tokens = node.children.setdefault(key, {})
        child = by_tokens.get(tokens)
        if child is None:
            child = by_tokens[tokens] = _Node(first=index)
        child.first = min(child.first, index)
        if session not in child.owners and len(child.owners) < 2:
            child.owners.append(session)
        node = child
    return node


#: Where a match stopped: the node, the position in the context and the tokens matched.
_Cursor = tuple[_Node, int, int]


def _walk(cursor: _Cursor, context: Sequence[_Part], end: int, *,
          other_than: str | None = None, before: int | None = None) -> tuple[_Cursor, int]:
    """Extend the match at ``cursor`` along ``context[:end]`` through nodes that a session
    other than ``other_than`` sends, or a request before plan index ``before``; the cursor
    where it stops and the tokens of a last, partly shared message."""

    def ok(node: _Node) -> bool:
        if other_than is not None:
            return any(owner != other_than for owner in node.owners)
        return before is not None and node.first < before

    node, position, shared = cursor
    while position < end:
        key, tokens = context[position]
        by_tokens = node.children.get(key, {})
        exact = by_tokens.get(tokens)
        if exact is None or not ok(exact):
            # Same text, another size: the smaller size is shared, then the texts part.
            return (node, position, shared), max(
                (min(size, tokens) for size, child in by_tokens.items() if ok(child)), default=0)
        node, position, shared = exact, position + 1, shared + tokens
    return (node, position, shared), 0


def prefix_share(plan: Sequence[PlannedRequest]) -> PrefixShare:
    """The shared prefix tokens of every request of ``plan`` (see ``PrefixShare``).

    A turn that re-sends its history goes on from where its previous turn's prompt (and its
    previous match) ended, so a session costs its context's length, not its square.
    """
    root = _Node(first=-1)
    sessions = list(_session_turns(plan))
    for turns in sessions:
        node, previous = root, -1
        for turn in turns:
            # Going on from the previous prompt's node holds only while plan order follows
            # turn order (it does in a planned session); otherwise the path is walked again.
            start = 0 if turn.index < previous else turn.start
            node = _insert(root if start == 0 else node, turn.context[start:turn.end],
                           turn.index, turn.session)
            previous = turn.index
    sizes, cross, earlier = [0] * len(plan), [0] * len(plan), [0] * len(plan)
    for turns in sessions:
        previous = -1
        for turn in turns:
            if turn.start == 0:
                size, cross_at, earlier_at = 0, (root, 0, 0), (root, 0, 0)
            if turn.index < previous:
                earlier_at = (root, 0, 0)
            previous = turn.index
            size += sum(tokens for _, tokens in turn.context[turn.start:turn.end])
            cross_at, partial = _walk(cross_at, turn.context, turn.end, other_than=turn.session)
            cross[turn.index] = cross_at[2] + partial
            earlier_at, partial = _walk(earlier_at, turn.context, turn.end, before=turn.index)
            earlier[turn.index] = earlier_at[2] + partial
            sizes[turn.index] = size
    return PrefixShare(tuple(sizes), tuple(cross), tuple(earlier))


def shared_message_share(sessions: Mapping[str, Sequence[PlannedRequest]]) -> float:
    """Tokens of messages (role, seed, content, tokens) that more than one session sends,
    over all message tokens, each distinct message counted once per session."""
    owners: dict[_Part, set[str]] = {}
    for session_id, turns in sessions.items():
        for request in turns:
            for message in request.messages:
                owners.setdefault(_part(message), set()).add(session_id)
    total = sum(tokens * len(sessions_) for (_, tokens), sessions_ in owners.items())
    shared = sum(tokens * len(sessions_) for (_, tokens), sessions_ in owners.items()
                 if len(sessions_) > 1)
    return shared / total if total else 0.0
