"""A planned turn with ``resend_history`` false is sent with its own messages only, and later
turns build on what it sent and received."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import numpy as np

from harness.client.http import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedMessage, PlannedRequest
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    async def send(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int,
        stream: bool,
        timeout_s: float,
        first_token_timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        keep_text: bool = False,
        client_prompt_tokens: int | None = None,
    ) -> AttemptResult:
        self.sent.append([m["role"] for m in messages])
        now = asyncio.get_running_loop().time()
        return AttemptResult(
            sent_s=now,
            first_byte_s=now,
            first_token_s=now,
            done_s=now,
            status_code=200,
            outcome=Outcome.OK,
            prompt_tokens=client_prompt_tokens,
            completion_tokens=2,
            cached_tokens=0,
            usage_source="server",
            model=model,
            deployment="d",
            error_detail=None,
            token_times_s=(),
            retry_after_s=None,
            fault=None,
            text="an answer",
        )


def _turn(turn: int, roles: tuple[str, ...], resend: bool = True) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"s1-t{turn}",
        session_id="s1",
        turn=turn,
        offset_s=0.0,
        think_s=0.0,
        prompt_tokens=3,
        max_tokens=4,
        model="m",
        api="openai-chat",
        stream=True,
        messages=tuple(
            PlannedMessage(role=role, tokens=3, seed=turn * 10 + slot)
            for slot, role in enumerate(roles)
        ),
        resend_history=resend,
    )


def test_a_turn_without_history_sends_only_its_messages() -> None:
    plan = [
        _turn(1, ("system", "user")),
        _turn(2, ("user",)),
        _turn(3, ("system", "user", "assistant", "user"), resend=False),
        _turn(4, ("user",)),
    ]
    sender = RecordingSender()
    records: list[AttemptRecord] = []
    config = EngineConfig(
        run_id="r",
        duration_s=10.0,
        drain_s=1.0,
        timeout_s=5.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(),
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        engine = Engine(config, sender, records.append, now=loop.time, rng=np.random.default_rng(0))
        await engine.run(plan)

    asyncio.run(main())
    assert sender.sent == [
        ["system", "user"],
        ["system", "user", "assistant", "user"],
        ["system", "user", "assistant", "user"],
        ["system", "user", "assistant", "user", "assistant", "user"],
    ]
    answer = 2  # "an answer"
    assert [r.prompt_tokens for r in records] == [6, 6 + answer + 3, 12, 12 + answer + 3]
