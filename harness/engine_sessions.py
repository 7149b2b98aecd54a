"""Sessions for the engine: a plan's sessions in, each turn sent in order or recorded as never
sent (exactly one final record per planned request), sub-agent sessions started and awaited.

Turns inside a session wait for the previous answer plus ``think_s`` and re-send the history
with the answers actually received, sized and counted by the configured tokenizer (the mock's
words, or ``[target] tokenizer``). With ``tag_prompt`` each turn's last user message ends with
that request's ``[tokenstorm run=.. request=..]`` tag (history re-sent as it was sent). An
embeddings turn (``rag``'s ``embed_query``) is sent alone and never joins the history.
A session whose first turn names ``spawned_by`` (a parent turn in the plan) is a sub-agent:
it starts when that turn has finished well, not at its offset; a turn with ``waits_for`` waits
until those sessions have ended (however they ended) before its think time starts. A failed
turn ends its session: its later turns and every sub-agent not yet started below it are
recorded ``cancelled``. ``finish`` records whatever a deadline left unsent, so planned and
recorded requests always match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from harness.client.http import AttemptResult
from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import EngineConfig, LiveStats

#: Sends one turn's attempts: (request, messages, prompt tokens, scheduled time, keep text).
SendTurn = Callable[
    [PlannedRequest, list[dict[str, str]], int, float, bool], Awaitable[AttemptResult | None]
]


@dataclass(frozen=True, slots=True)
class EngineIO:
    """What sessions use of the engine: send a turn, write a record, read the run clock, and
    sleep until a run-clock time (False when a stop came first)."""

    send: SendTurn
    sink: Callable[[AttemptRecord], None]
    clock: Callable[[], float]
    sleep_until: Callable[[float], Awaitable[bool]]


@dataclass(slots=True)
class _Progress:
    """Turns before ``recorded`` have their final record (or an attempt that will write it);
    ``task`` is set once the session runs."""

    recorded: int = 0
    task: asyncio.Task[None] | None = None


class SessionRunner:
    """Runs the sessions of one plan; ``roots`` are the ones the scheduler starts by offset."""

    def __init__(
        self, plan: Iterable[PlannedRequest], config: EngineConfig, io: EngineIO, stats: LiveStats
    ) -> None:
        self._config = config
        self._io = io
        self._stats = stats
        self.tasks: set[asyncio.Task[None]] = set()
        self._sessions: dict[str, list[PlannedRequest]] = {}
        for request in plan:
            self._sessions.setdefault(request.session_id, []).append(request)
        for turns in self._sessions.values():
            turns.sort(key=lambda r: r.turn)
        request_ids = {r.request_id for turns in self._sessions.values() for r in turns}
        self._children: dict[str, list[str]] = {}
        roots: list[list[PlannedRequest]] = []
        for session_id, turns in self._sessions.items():
            parent = turns[0].spawned_by
            if parent in request_ids:
                self._children.setdefault(parent, []).append(session_id)
            else:  # no parent, or one cut from the plan: started by its offset
                roots.append(turns)
        self.roots = sorted(roots, key=lambda turns: (turns[0].offset_s, turns[0].session_id))
        self._progress = {session_id: _Progress() for session_id in self._sessions}

    def add(self, unit: Iterable[PlannedRequest]) -> list[list[PlannedRequest]]:
        """Take in the sessions of one more unit (the closed loop draws them as it goes);
        return its root sessions (those no planned turn of it spawns), in plan order."""
        added: dict[str, list[PlannedRequest]] = {}
        for request in unit:
            added.setdefault(request.session_id, []).append(request)
        known = {r.request_id for turns in added.values() for r in turns}
        roots: list[list[PlannedRequest]] = []
        for session_id, turns in added.items():
            turns.sort(key=lambda r: r.turn)
            self._sessions[session_id] = turns
            self._progress[session_id] = _Progress()
            parent = turns[0].spawned_by
            if parent in known:
                self._children.setdefault(parent, []).append(session_id)
            else:
                roots.append(turns)
        return sorted(roots, key=lambda turns: (turns[0].offset_s, turns[0].session_id))

    def start(
        self, turns: list[PlannedRequest], start_s: float | None = None, by_parent: bool = False
    ) -> asyncio.Task[None]:
        """Run one session as a task of its own; ``start_s`` is its first turn's intended
        send time when that is not its planned offset (the closed loop: when a slot freed);
        ``by_parent``: a sub-agent session its parent's turn starts."""
        session_id = turns[0].session_id
        task = asyncio.create_task(self._session(turns, start_s, by_parent))
        self._progress[session_id].task = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: self._forget(session_id))
        return task

    def _forget(self, session_id: str) -> None:
        """Drop a session whose every turn has its record (memory stays bounded by the
        sessions in flight); one a deadline left unrecorded stays for ``finish``."""
        turns = self._sessions.get(session_id)
        progress = self._progress.get(session_id)
        if turns is None or progress is None or progress.recorded < len(turns):
            return
        del self._sessions[session_id], self._progress[session_id]
        for request in turns:
            self._children.pop(request.request_id, None)

    def __len__(self) -> int:
        """Sessions held: planned, running, or left for ``finish``."""
        return len(self._sessions)

    def skip(
        self,
        turns: list[PlannedRequest],
        why: str,
        outcome: Outcome = Outcome.CANCELLED,
        scheduled_s: float | None = None,
    ) -> None:
        """Record the session's unrecorded turns as never sent, and every sub-agent session
        below it that has not started."""
        session_id = turns[0].session_id
        progress = self._progress[session_id]
        rest = turns[progress.recorded :]
        progress.recorded = len(turns)
        if outcome is Outcome.DROPPED:
            self._stats.dropped += len(rest)
        for request in rest:
            self._io.sink(
                unsent_record(
                    request, outcome, why, request.offset_s if scheduled_s is None else scheduled_s
                )
            )
        for request in turns:
            for child in self._children.get(request.request_id, ()):
                child_progress = self._progress.get(child)  # None: it ended, forgotten
                if child_progress is not None and child_progress.task is None:
                    self.skip(
                        self._sessions[child],
                        f"parent session {session_id}: {why}",
                        outcome,
                        scheduled_s,
                    )
        if progress.task is None:
            self._forget(session_id)

    def finish(self) -> None:
        """Record every turn no session got to (a deadline, or a task cancelled unstarted)."""
        now_s = self._io.clock()
        for session_id, turns in list(self._sessions.items()):
            if session_id not in self._progress:
                continue  # skipped and forgotten below a parent skipped in this loop
            progress = self._progress[session_id]
            if progress.recorded < len(turns):
                why = (
                    "run deadline reached before this turn"
                    if progress.task is not None
                    else "run ended before this session started"
                )
                self.skip(turns, why, scheduled_s=now_s)

    async def _session(
        self, turns: list[PlannedRequest], start_s: float | None, by_parent: bool
    ) -> None:
        try:
            await self._turns(turns, self._progress[turns[0].session_id], start_s, by_parent)
        except asyncio.CancelledError:
            self.skip(turns, "run deadline reached before this turn", scheduled_s=self._io.clock())
            raise

    async def _turns(
        self,
        turns: list[PlannedRequest],
        progress: _Progress,
        start_s: float | None,
        by_parent: bool,
    ) -> None:
        io, config = self._io, self._config
        history: list[dict[str, str]] = []
        history_tokens = 0
        scheduled_s = turns[0].offset_s if start_s is None else start_s
        for index, request in enumerate(turns):
            if index > 0 or by_parent:
                if request.waits_for:
                    await self._wait_for(request.waits_for)
                scheduled_s = io.clock() + request.think_s
                if scheduled_s >= config.duration_s:
                    self.skip(turns, "run ended before this turn", scheduled_s=scheduled_s)
                    return
                if not await io.sleep_until(scheduled_s):
                    self.skip(turns, "run stopped before this turn", scheduled_s=scheduled_s)
                    return
            tokenizer = config.tokenizer
            added = [
                {"role": m.role, "content": m.content or tokenizer.text(m.tokens, m.seed)}
                for m in request.messages
            ]
            if config.tag_prompt:
                added = tag_messages(added, config.run_id, request.request_id)
            # An embeddings request goes beside the conversation: alone, and not kept in it.
            beside = request.api == OPENAI_EMBEDDINGS
            if not request.resend_history and not beside:
                history, history_tokens = [], 0  # the plan lists this turn's whole context
            messages = added if beside else history + added
            own_tokens = sum(tokenizer.count(m["content"]) for m in added)
            prompt_tokens = own_tokens if beside else history_tokens + own_tokens
            progress.recorded = index + 1  # the attempts write this turn's records
            result = await io.send(
                request, messages, prompt_tokens, scheduled_s, index + 1 < len(turns)
            )
            self._stats.requests_done += 1
            if result is None or result.outcome is not Outcome.OK:
                self._stats.requests_failed += 1
                self.skip(
                    turns, f"session ended: turn {request.turn} failed", scheduled_s=io.clock()
                )
                return
            self._spawn(request)
            if not beside:
                history = [*messages, {"role": "assistant", "content": result.text}]
                history_tokens = prompt_tokens + tokenizer.count(result.text)

    def _spawn(self, request: PlannedRequest) -> None:
        """Start the sub-agent sessions ``request`` spawns (the session limit still holds)."""
        for child in self._children.get(request.request_id, ()):
            turns = self._sessions[child]
            if len(self.tasks) >= self._config.max_sessions_in_flight:
                self.skip(
                    turns,
                    "too many sessions in flight",
                    Outcome.DROPPED,
                    scheduled_s=self._io.clock(),
                )
            else:
                self.start(turns, by_parent=True)

    async def _wait_for(self, session_ids: tuple[str, ...]) -> None:
        # Sessions never started (dropped, cut from the plan) have nothing to wait for.
        waiting = [
            task
            for session_id in session_ids
            if (progress := self._progress.get(session_id)) is not None
            and (task := progress.task) is not None
            and not task.done()
        ]
        if waiting:
            await asyncio.wait(waiting)


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


def unsent_record(
    request: PlannedRequest, outcome: Outcome, why: str, scheduled_s: float
) -> AttemptRecord:
    return AttemptRecord(
        request_id=request.request_id,
        session_id=request.session_id,
        turn=request.turn,
        attempt=1,
        scheduled_s=round(scheduled_s, 6),
        sent_s=None,
        first_byte_s=None,
        first_token_s=None,
        done_s=None,
        status_code=None,
        outcome=outcome.value,
        prompt_tokens=None,
        completion_tokens=None,
        cached_tokens=None,
        usage_source=None,
        model=request.model,
        deployment=None,
        error_detail=why,
        api=request.api,
        tags=request.tags,
    )
