"""Trace replay: a trace's rows and its ``[trace]`` settings in, one planned request per row.

Every row is its own single-turn session (so the engine sends it open-loop at its offset),
``offset_s = (row time - origin) / 1e9 / time_scale`` with the origin the first row's time (or
``start`` when a slice is cut), ``prompt_tokens`` the row's input tokens exactly, and
``max_tokens`` its output tokens, at least 1: a row that produced 0 tokens (a BurstGPT failure)
is replayed as a request for 1 token. The trace's own session, model and log type travel as
tags (``trace_session``, ``trace_model``, ...), never as engine sessions.

Prompt text keeps the trace's prefix reuse: a Mooncake ``hash_ids`` block becomes a message of
``block_tokens`` with a seed derived from the id (equal ids, equal text, so a prefix cache sees
what the trace's cache saw); a TraceLab call re-sends the first ``prefix_tokens`` of its
session's previous call, then its new part. Other rows are one fresh user message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.contract.records import PlannedMessage, PlannedRequest
from harness.contract.traffic import Trace
from workloads import seeds
from workloads.traces.rows import TraceRow

_NS_PER_S = 1_000_000_000


class _Blocks:
    """Block messages of one replay; a block's seed is hashed once, however often it recurs."""

    def __init__(self, block_tokens: int, seed: int) -> None:
        self._block_tokens = block_tokens
        self._seed = seed
        self._full: dict[int, PlannedMessage] = {}

    def _full_block(self, block_id: int) -> PlannedMessage:
        message = self._full.get(block_id)
        if message is None:
            message = PlannedMessage(
                "user", self._block_tokens, seeds.block_message_seed(self._seed, block_id)
            )
            self._full[block_id] = message
        return message

    def messages(self, row: TraceRow) -> list[PlannedMessage]:
        messages: list[PlannedMessage] = []
        left = row.prompt_tokens
        for block_id in row.blocks or ():
            if left <= 0:
                break
            full = self._full_block(block_id)
            if left >= self._block_tokens:
                messages.append(full)
            else:
                messages.append(PlannedMessage("user", left, full.seed))
            left -= self._block_tokens
        return messages


def _carried(previous: Sequence[PlannedMessage], keep_tokens: int) -> list[PlannedMessage]:
    # The text of (tokens, seed) is a prefix of the text of (more tokens, seed), so cutting
    # the last carried message keeps the prompt a true prefix of the previous one.
    carried: list[PlannedMessage] = []
    for message in previous:
        if keep_tokens <= 0:
            break
        size = min(message.tokens, keep_tokens)
        carried.append(
            message if size == message.tokens else PlannedMessage(message.role, size, message.seed)
        )
        keep_tokens -= size
    return carried


def _selected(rows: Sequence[TraceRow], trace: Trace) -> tuple[list[int], int]:
    """Indices (file order) of the rows inside the slice, by time; and the origin in ns."""
    order = sorted(range(len(rows)), key=lambda index: (rows[index].time_ns, index))
    if not order:
        return [], 0
    first_ns = rows[order[0]].time_ns
    start_ns = first_ns + (round(trace.start * _NS_PER_S) if trace.start is not None else 0)
    end_ns = first_ns + round(trace.end * _NS_PER_S) if trace.end is not None else None
    kept = [
        index
        for index in order
        if rows[index].time_ns >= start_ns and (end_ns is None or rows[index].time_ns < end_ns)
    ]
    return kept, start_ns


def _copies(kept: Sequence[int], rate_scale: float, rng: np.random.Generator) -> list[int]:
    if rate_scale == 1.0:
        return [1] * len(kept)
    whole, fraction = math.floor(rate_scale), rate_scale - math.floor(rate_scale)
    extra = rng.random(len(kept)) < fraction
    return [whole + int(flag) for flag in extra]


def trace_span_s(rows: Sequence[TraceRow], trace: Trace) -> float:
    """The offset of the last replayed row (0 for an empty slice)."""
    kept, origin_ns = _selected(rows, trace)
    if not kept:
        return 0.0
    return (rows[kept[-1]].time_ns - origin_ns) / 1e9 / trace.time_scale


def replay_trace(
    rows: Sequence[TraceRow], trace: Trace, *, seed: int, api: str, model: str, stream: bool
) -> list[PlannedRequest]:
    """The planned requests of ``rows`` under ``trace``'s scaling and slice, by offset.

    ``rate_scale`` r keeps the time axis: each row yields ``floor(r)`` copies plus one more
    with probability ``r - floor(r)`` (seeded); copy 0 keeps the row's time, further copies
    land uniformly between it and the next row, so the local rate shape is kept.
    """
    kept, origin_ns = _selected(rows, trace)
    rng = seeds.rng_stream(seed, seeds.TRACE)
    counts = _copies(kept, trace.rate_scale, rng)
    base_tags = {"workload": "trace", "trace": Path(trace.path).name, **trace.tags}
    history: dict[str, list[PlannedMessage]] = {}
    blocks = _Blocks(trace.block_tokens, seed)
    plan: list[PlannedRequest] = []
    for position, (index, count) in enumerate(zip(kept, counts, strict=True)):
        row = rows[index]
        shared = blocks.messages(row) if row.blocks is not None else []
        if row.session is not None and row.prefix_tokens is not None:
            previous = history.get(row.session, [])
            shared = _carried(previous, min(row.prefix_tokens, row.prompt_tokens))
        new_tokens = row.prompt_tokens - sum(message.tokens for message in shared)
        time_s = (row.time_ns - origin_ns) / 1e9
        next_s = (
            (rows[kept[position + 1]].time_ns - origin_ns) / 1e9
            if position + 1 < len(kept)
            else time_s
        )
        tags = {**base_tags, **row.tags}
        if row.session is not None:
            tags["trace_session"] = row.session
        for copy in range(max(count, 1)):
            messages = list(shared)
            if new_tokens > 0 or not messages:
                messages.append(
                    PlannedMessage("user", new_tokens, seeds.trace_message_seed(seed, index, copy))
                )
            if copy == 0 and row.session is not None:
                history[row.session] = messages
            if copy >= count:
                continue  # thinned out: only its history entry was needed
            at_s = time_s if copy == 0 else float(rng.uniform(time_s, next_s))
            session_id = f"r{index:07d}" if copy == 0 else f"r{index:07d}.{copy}"
            plan.append(
                PlannedRequest(
                    request_id=f"{session_id}-t1",
                    session_id=session_id,
                    turn=1,
                    offset_s=at_s / trace.time_scale,
                    think_s=0.0,
                    prompt_tokens=row.prompt_tokens,
                    max_tokens=max(row.output_tokens, 1),
                    model=model,
                    api=api,
                    stream=stream,
                    messages=tuple(messages),
                    tags=tags,
                )
            )
    plan.sort(key=lambda request: (request.offset_s, request.session_id))
    return plan
