"""With ``tag_prompt`` every turn's last user message ends with its own request's tag, and
everything before it (system prompt, shared prefix, history as sent) stays byte-identical."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.cli.main import main
from harness.client.http import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.prompt_text import count_tokens
from harness.contract.records import (
    AttemptRecord,
    LedgerEntry,
    PlannedMessage,
    PlannedRequest,
    read_jsonl,
)
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig
from mock_models.http.draft import PROMPT_TAG

Sent = dict[str, list[dict[str, str]]]


class RecordingSender:
    """Answers at once with a fixed text, keeping every request's messages by request id."""

    def __init__(self) -> None:
        self.sent: Sent = {}

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
        assert headers is not None
        self.sent[headers["x-tokenstorm-request-id"]] = [dict(m) for m in messages]
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


def _message(role: str, seed: int, tokens: int = 5) -> PlannedMessage:
    return PlannedMessage(role=role, tokens=tokens, seed=seed)


_SYSTEM = _message("system", 1)
_SHARED = _message("user", 2, tokens=40)  # a shared prefix every session starts with


def _session(session: int) -> list[PlannedRequest]:
    own = session * 100
    turns: list[tuple[tuple[PlannedMessage, ...], bool]] = [
        ((_SYSTEM, _SHARED, _message("user", own + 1)), True),
        ((_message("user", own + 2),), True),
        # A context-window turn: the plan lists the whole context, history is not re-sent.
        (
            (
                _SYSTEM,
                _message("user", own + 1),
                _message("assistant", own + 3),
                _message("user", own + 4),
            ),
            False,
        ),
        ((_message("user", own + 5), _message("assistant", own + 6)), True),  # prefilled
    ]
    return [
        PlannedRequest(
            request_id=f"s{session}-t{turn}",
            session_id=f"s{session}",
            turn=turn,
            offset_s=float(session),
            think_s=1.0,
            prompt_tokens=5,
            max_tokens=4,
            model="m",
            api="openai-chat",
            stream=True,
            messages=messages,
            resend_history=resend,
        )
        for turn, (messages, resend) in enumerate(turns, start=1)
    ]


def _run(virtual: Any, tag_prompt: bool) -> tuple[Sent, list[AttemptRecord]]:
    plan = _session(1) + _session(2)
    sender = RecordingSender()
    records: list[AttemptRecord] = []
    config = EngineConfig(
        run_id="r-7",
        duration_s=30.0,
        drain_s=5.0,
        timeout_s=5.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(),
        tag_prompt=tag_prompt,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        engine = Engine(config, sender, records.append, now=loop.time, rng=np.random.default_rng(0))
        await engine.run(plan)

    virtual(main)
    return sender.sent, records


def _last_user(messages: list[dict[str, str]]) -> int:
    return max(i for i, m in enumerate(messages) if m["role"] == "user")


def test_every_turn_ends_its_last_user_message_with_its_own_tag(virtual: Any) -> None:
    tagged, _records = _run(virtual, tag_prompt=True)
    plain, _records = _run(virtual, tag_prompt=False)
    assert sorted(tagged) == sorted(plain) and len(tagged) == 8
    for request_id, messages in tagged.items():
        session, turn = request_id.split("-t")
        own_tag = f"[tokenstorm run=r-7 request={request_id}]"
        last_user = _last_user(messages)
        assert messages[last_user]["content"].endswith(" " + own_tag)
        untagged = [
            {**m, "content": m["content"].removesuffix(" " + own_tag)} if i == last_user else m
            for i, m in enumerate(messages)
        ]
        if turn in ("1", "3"):  # the turn's whole context is its own messages
            assert untagged == plain[request_id]
        else:  # history exactly as the previous turn sent it, then the answer
            previous = tagged[f"{session}-t{int(turn) - 1}"]
            assert messages[: len(previous) + 1] == [
                *previous,
                {"role": "assistant", "content": "an answer"},
            ]
            assert untagged[len(previous) + 1 :] == plain[request_id][len(previous) + 1 :]
        # Tags elsewhere are earlier turns' of the same session, never a later or foreign one.
        for i, message in enumerate(messages):
            for _run_id, other in PROMPT_TAG.findall(message["content"]):
                assert (
                    other == request_id
                    if i == last_user
                    else (other.startswith(session + "-t") and other < request_id)
                )
    # The system prompt and the shared prefix go out byte-identical in every session.
    firsts = [tagged["s1-t1"], tagged["s2-t1"]]
    assert firsts[0][:2] == firsts[1][:2] == plain["s1-t1"][:2]


def test_records_count_the_tags_words_as_prompt_tokens(virtual: Any) -> None:
    tagged, tagged_records = _run(virtual, tag_prompt=True)
    plain, plain_records = _run(virtual, tag_prompt=False)
    for records, sent in ((tagged_records, tagged), (plain_records, plain)):
        assert len(records) == 8
        for record in records:
            # What the mock counts: the words of every message sent.
            assert record.prompt_tokens == sum(
                count_tokens(m["content"]) for m in sent[record.request_id]
            )
    plain_tokens = {r.request_id: r.prompt_tokens or 0 for r in plain_records}
    for record in tagged_records:
        tags = sum(len(PROMPT_TAG.findall(m["content"])) for m in tagged[record.request_id])
        assert tags >= 1
        assert record.prompt_tokens == plain_tokens[record.request_id] + 3 * tags


def test_without_tag_prompt_nothing_is_tagged(virtual: Any) -> None:
    plain, _records = _run(virtual, tag_prompt=False)
    assert not any(
        re.search(r"\[tokenstorm", m["content"]) for messages in plain.values() for m in messages
    )


_CACHED_SCENARIO = """
name = "tagged-prefix"
seed = 5
duration = "1.5s"
drain = "10s"
arrival = { process = "constant", rate = "4/s" }

[target]
tag_prompt = true

[[workload]]
kind = "stream"
prompt_tokens = { dist = "constant", value = 400 }
shared_prefix_share = 0.8
max_tokens = 4

[[mock.deployments]]
name = "one"
model = "mock-small"
output_tokens = 4
output_tokens_sigma = 0
jitter = 0

[mock.deployments.engine]
step_base_ms = 0.5
prefill_ms_per_token = 0.001
decode_ms_per_seq = 0.0
prefix_cache_blocks = 500
"""


def test_a_tagged_shared_prefix_still_hits_the_mock_prefix_cache(tmp_path: Path) -> None:
    """The tag goes after the shared prefix, so later sessions read it from the cache, and
    records and ledger agree on prompt tokens (the tag's words included)."""
    scenario = tmp_path / "tagged.toml"
    scenario.write_text(_CACHED_SCENARIO)
    assert (
        main(["run", str(scenario), "--out", str(tmp_path), "--run-id", "tagged", "--no-progress"])
        == 0
    )
    records = sorted(
        read_jsonl(tmp_path / "tagged" / "records.jsonl", AttemptRecord),
        key=lambda r: r.scheduled_s,
    )
    ledger = {
        e.request_id: e for e in read_jsonl(tmp_path / "tagged" / "ledger.jsonl", LedgerEntry)
    }
    assert len(records) >= 4 and all(r.outcome == Outcome.OK for r in records)
    shared_tokens = 320
    for record in records:
        assert record.prompt_tokens == ledger[record.request_id].prompt_tokens
        assert record.prompt_tokens is not None and record.prompt_tokens > 400  # tag included
    # The first session writes the shared prefix; every later one reads most of it.
    assert all((r.cached_tokens or 0) >= shared_tokens // 2 for r in records[1:])
