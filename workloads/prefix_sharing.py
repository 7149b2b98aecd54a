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

import bisect
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harness.contract.records import PlannedMessage, PlannedRequest

#: (role, seed, literal content) of a message; the answer to request R is ("answer", 0, R).
_Key = tuple[str, int, str]
_Part = tuple[_Key, int]  # a key and its tokens

#: A key's children up to this many sizes are scanned for a partial match; more get indexed.
_SCAN_SIZES = 8
#: Sizes per block of a ``_BySize`` index.
_BLOCK = 16
#: A plan index after every request's.
_NEVER = 2**62


class _Trie:
    """Prompt prefixes as a trie of node ids (0 the empty prompt): per node the first plan
    index that sends it and up to two sessions that do; per node and message its child, and
    per node and message key its children by size.

    Flat lists and dicts of ids, not an object per node: a plan's trie holds about a node per
    message, and objects that many would make the garbage collector rescan them all."""

    def __init__(self) -> None:
        self.first: list[int] = [-1]
        self.owner: list[str | None] = [None]
        self.co_owner: list[str | None] = [None]
        self.children: dict[tuple[int, _Part], int] = {}
        self.by_key: dict[tuple[int, _Key], dict[int, int]] = {}
        self.indexed: dict[tuple[int, _Key], _BySize] = {}

    def add(self, node: int, part: _Part, index: int, session: str) -> int:
        """The child of ``node`` for ``part``, created or updated for a request at ``index``."""
        child = self.children.get((node, part))
        if child is None:
            child = self.children[node, part] = len(self.first)
            self.first.append(index)
            self.owner.append(session)
            self.co_owner.append(None)
            self.by_key.setdefault((node, part[0]), {})[part[1]] = child
            return child
        if index < self.first[child]:
            self.first[child] = index
        if self.co_owner[child] is None and self.owner[child] != session:
            self.co_owner[child] = session
        return child

    def alone(self, node: int) -> str | None:
        """The one session that sends ``node``'s prefix, or None if two or more do."""
        return self.owner[node] if self.co_owner[node] is None else None

    def sizes(self, node: int, key: _Key) -> _BySize:
        """The children of ``node`` for ``key`` sorted by size (once the trie is complete)."""
        index = self.indexed.get((node, key))
        if index is None:
            index = self.indexed[node, key] = _BySize(self, self.by_key[node, key])
        return index


class _BySize:
    """The children of one key sorted by size, for the partial match of another size: the
    largest ``min(size, tokens)`` over children that pass a test, without visiting them all.

    Children only the asking session sends are few (at most one per turn of it), so the
    "another session" test steps over them; the "sent before plan index b" test uses the
    smallest ``first`` of each suffix and of each block of ``_BLOCK`` sizes.
    """

    __slots__ = ("alone", "block_first", "firsts", "sizes", "suffix_first")

    def __init__(self, trie: _Trie, by_size: Mapping[int, int]) -> None:
        self.sizes = sorted(by_size)
        self.alone = [trie.alone(by_size[size]) for size in self.sizes]
        self.firsts = [trie.first[by_size[size]] for size in self.sizes]
        self.suffix_first = [*itertools.accumulate(reversed(self.firsts), min)][::-1]
        self.suffix_first.append(_NEVER)
        self.block_first = [
            min(self.firsts[start : start + _BLOCK]) for start in range(0, len(self.firsts), _BLOCK)
        ]

    def other_than(self, tokens: int, session: str) -> int:
        """The best shared size among children a session other than ``session`` sends."""
        split = bisect.bisect_left(self.sizes, tokens)
        if any(alone != session for alone in itertools.islice(self.alone, split, None)):
            return tokens
        for index in range(split - 1, -1, -1):
            if self.alone[index] != session:
                return self.sizes[index]
        return 0

    def before(self, tokens: int, before: int) -> int:
        """The best shared size among children first sent before plan index ``before``."""
        split = bisect.bisect_left(self.sizes, tokens)
        if self.suffix_first[split] < before:
            return tokens
        index = split - 1
        while index >= 0:
            if index % _BLOCK == _BLOCK - 1 and self.block_first[index // _BLOCK] >= before:
                index -= _BLOCK
            elif self.firsts[index] < before:
                return self.sizes[index]
            else:
                index -= 1
        return 0


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


#: One request's prompt, as a span of one flat list of every prompt's messages: plan index,
#: session, where its context begins (``base``), where its new messages (and the answer
#: before them) begin, its end, and its tokens. The prompt is ``parts[base:end]``; when the
#: turn re-sends its history, ``parts[base:start]`` is the previous turn's prompt.
_Turn = tuple[int, str, int, int, int, int]


def _prompts(plan: Sequence[PlannedRequest]) -> tuple[list[_Part], list[_Turn]]:
    """Every request's prompt, session by session in turn order (a few flat lists, not a
    list per session: fewer objects for the garbage collector to rescan)."""
    order = sorted(range(len(plan)), key=lambda i: (plan[i].session_id, plan[i].turn))
    parts: list[_Part] = []
    turns: list[_Turn] = []
    previous: PlannedRequest | None = None
    base = size = 0
    for index in order:
        request = plan[index]
        if (
            previous is None
            or previous.session_id != request.session_id
            or not request.resend_history
        ):
            base = start = len(parts)
            size = 0
        else:
            start = len(parts)
            parts.append((("answer", 0, previous.request_id), 0))
        for message in request.messages:
            parts.append(_part(message))
            size += message.tokens
        turns.append((index, request.session_id, base, start, len(parts), size))
        previous = request
    return parts, turns


#: Where a match stopped: the node, the position in ``parts`` and the tokens matched.
_Cursor = tuple[int, int, int]


def _partial(
    trie: _Trie,
    node: int,
    part: _Part,
    ok: Callable[[int], bool],
    index: Callable[[_BySize, int], int],
) -> int:
    """The tokens of ``part`` a child of ``node`` of the same key and another size shares
    (the smaller of the two sizes: same text, then the texts part), the best over children
    passing ``ok``; a key with many sizes asks its sorted index (``index``) instead."""
    by_size = trie.by_key.get((node, part[0]))
    if by_size is None:
        return 0
    if len(by_size) > _SCAN_SIZES:
        return index(trie.sizes(node, part[0]), part[1])
    return max((min(size, part[1]) for size, child in by_size.items() if ok(child)), default=0)


def _walk_other(
    trie: _Trie, cursor: _Cursor, parts: list[_Part], path: list[int], end: int, session: str
) -> tuple[_Cursor, int]:
    """Extend the match at ``cursor`` along ``parts[:end]`` (whose trie nodes are ``path``)
    through prefixes a session other than ``session`` sends; the cursor where it stops and
    the tokens of a last, partly shared message."""
    node, position, shared = cursor
    while position < end:
        child = path[position]
        if trie.alone(child) == session:
            return (node, position, shared), _partial(
                trie,
                node,
                parts[position],
                lambda other: trie.alone(other) != session,
                lambda index, tokens: index.other_than(tokens, session),
            )
        node, position, shared = child, position + 1, shared + parts[position][1]
    return (node, position, shared), 0


def _walk_before(
    trie: _Trie, cursor: _Cursor, parts: list[_Part], path: list[int], end: int, before: int
) -> tuple[_Cursor, int]:
    """As ``_walk_other``, through prefixes a request before plan index ``before`` sent."""
    node, position, shared = cursor
    first = trie.first
    while position < end:
        child = path[position]
        if first[child] >= before:
            return (node, position, shared), _partial(
                trie,
                node,
                parts[position],
                lambda other: first[other] < before,
                lambda index, tokens: index.before(tokens, before),
            )
        node, position, shared = child, position + 1, shared + parts[position][1]
    return (node, position, shared), 0


def prefix_share(plan: Sequence[PlannedRequest]) -> PrefixShare:
    """The shared prefix tokens of every request of ``plan`` (see ``PrefixShare``).

    A turn that re-sends its history goes on from where its previous turn's prompt (and its
    previous match) ended, so a session costs its context's length, not its square. Every
    prompt is in the trie, so a match follows the prompt's own path (kept per position) and
    only its end looks at siblings; keys with many sizes (a shared prefix of varying length)
    get a sorted index there, so a partial match costs a binary search, not a visit of each.
    """
    trie = _Trie()
    parts, turns = _prompts(plan)
    path = [0] * len(parts)
    node, previous, session_of_previous = 0, -1, ""
    for index, session, base, start, end, _ in turns:
        if session != session_of_previous:
            previous, session_of_previous = -1, session
        # Going on from the previous prompt's node holds only while plan order follows turn
        # order (it does in a planned session); otherwise the path is walked again.
        if start == base or index < previous:
            node, start = 0, base
        for position in range(start, end):
            node = path[position] = trie.add(node, parts[position], index, session)
        previous = index
    sizes, cross, earlier = [0] * len(plan), [0] * len(plan), [0] * len(plan)
    cross_at = earlier_at = (0, 0, 0)
    previous, session_of_previous = -1, ""
    for index, session, base, start, end, size in turns:
        if session != session_of_previous:
            previous, session_of_previous = -1, session
        if start == base:
            cross_at = earlier_at = (0, base, 0)
        if index < previous:
            earlier_at = (0, base, 0)
        previous = index
        cross_at, partial = _walk_other(trie, cross_at, parts, path, end, session)
        cross[index] = cross_at[2] + partial
        earlier_at, partial = _walk_before(trie, earlier_at, parts, path, end, index)
        earlier[index] = earlier_at[2] + partial
        sizes[index] = size
    return PrefixShare(tuple(sizes), tuple(cross), tuple(earlier))


def shared_message_share(sessions: Mapping[str, Sequence[PlannedRequest]]) -> float:
    """Tokens of messages (role, seed, content, tokens) that more than one session sends,
    over all message tokens, each distinct message counted once per session."""
    # A count and the last session per message, not a set of sessions: sessions come one
    # after the other, and a set per message would be one more object for the collector.
    last_session: dict[_Part, str] = {}
    session_count: dict[_Part, int] = {}
    for session_id, turns in sessions.items():
        for request in turns:
            for message in request.messages:
                part = _part(message)
                if last_session.get(part) != session_id:
                    last_session[part] = session_id
                    session_count[part] = session_count.get(part, 0) + 1
    total = sum(tokens * count for (_, tokens), count in session_count.items())
    shared = sum(tokens * count for (_, tokens), count in session_count.items() if count > 1)
    return shared / total if total else 0.0
