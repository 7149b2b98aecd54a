"""The ledger learns run and request from the prompt tag when a gateway dropped the headers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from harness.contract.records import LedgerEntry
from mock_models.http.draft import AttemptDraft
from mock_models.settings import DeploymentSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_IDS = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)


@given(run_id=_IDS, request_id=_IDS, prefix=st.text(max_size=30).filter(lambda t: "[" not in t))
def test_the_tag_in_the_last_piece_names_run_and_request(
    run_id: str, request_id: str, prefix: str
) -> None:
    draft = AttemptDraft({}, 0.0)
    tag = f"[tokenstorm run={run_id} request={request_id}] "
    draft.adopt_prompt_tag(["system prompt", prefix + tag + "the question"])
    assert (draft.run_id, draft.request_id) == (run_id, request_id)


def test_a_tag_in_the_history_names_only_the_run() -> None:
    draft = AttemptDraft({}, 0.0)
    draft.adopt_prompt_tag(["[tokenstorm run=r1 request=s1-t1] first", "answer", "second"])
    assert (draft.run_id, draft.request_id) == ("r1", None)


def test_headers_win_over_the_tag_and_no_tag_changes_nothing() -> None:
    headed = AttemptDraft({"x-tokenstorm-run-id": "h", "x-tokenstorm-request-id": "q"}, 0.0)
    headed.adopt_prompt_tag(["[tokenstorm run=r1 request=s1] hi"])
    assert (headed.run_id, headed.request_id) == ("h", "q")
    plain = AttemptDraft({}, 0.0)
    plain.adopt_prompt_tag(["[tokenstorm run=] hi", "no tag here"])
    assert (plain.run_id, plain.request_id) == (None, None)


def _tag(run_id: str, request_id: str) -> str:
    return f"[tokenstorm run={run_id} request={request_id}]"


@given(turns=st.integers(min_value=1, max_value=6), run_id=_IDS)
def test_the_newest_tag_wins_over_the_tags_in_the_history(turns: int, run_id: str) -> None:
    """Turn n re-sends turns 1..n-1, each ending with its own tag; the ledger takes turn n."""
    pieces = ["system prompt", "a shared prefix"]
    for turn in range(1, turns + 1):
        if turn > 1:
            pieces.append("an answer")
        pieces.append(f"question {turn} {_tag(run_id, f's1-t{turn}')}")
    draft = AttemptDraft({}, 0.0)
    draft.adopt_prompt_tag(pieces)
    assert (draft.run_id, draft.request_id) == (run_id, f"s1-t{turns}")


def test_of_two_tags_in_the_last_piece_the_later_one_names_the_request() -> None:
    draft = AttemptDraft({}, 0.0)
    draft.adopt_prompt_tag([f"quoted {_tag('old', 'q1')} then asked {_tag('r2', 'q2')}"])
    assert (draft.run_id, draft.request_id) == ("r2", "q2")


def test_a_last_piece_without_a_tag_takes_no_request_id_from_the_history() -> None:
    draft = AttemptDraft({}, 0.0)
    draft.adopt_prompt_tag(
        [
            f"q1 {_tag('r1', 's1-t1')}",
            "answer",
            f"q2 {_tag('r1', 's1-t2')}",
            "answer",
            "q3 untagged",
        ]
    )
    assert (draft.run_id, draft.request_id) == ("r1", None)


_SETTINGS = MockSettings(
    seed=1,
    deployments=(
        DeploymentSettings(
            name="small", model="mock-small", jitter=0.0, output_tokens=3, output_tokens_sigma=0.0
        ),
    ),
)


def test_a_headerless_conversation_pairs_every_turn_by_its_tag(
    serving: Serving, ledger_of: LedgerOf
) -> None:
    """As through a header-dropping gateway: three turns of one session, each re-sending the
    tagged history, land in the ledger under their own request ids, prompt tags counted."""

    async def scenario() -> list[LedgerEntry]:
        messages: list[dict[str, str]] = [{"role": "system", "content": "be brief"}]
        async with serving(_SETTINGS) as base_url, aiohttp.ClientSession() as session:
            for turn in (1, 2, 3):
                messages.append(
                    {"role": "user", "content": f"question {turn} {_tag('run-9', f's1-t{turn}')}"}
                )
                body = {"model": "mock-small", "messages": messages, "stream": False}
                async with session.post(
                    base_url + "/v1/chat/completions",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    assert response.status == 200
                    answer = (await response.json())["choices"][0]["message"]["content"]
                messages.append({"role": "assistant", "content": answer})
            return await ledger_of(session, base_url, run_id="run-9")

    ledger = asyncio.run(scenario())
    assert [e.request_id for e in ledger] == ["s1-t1", "s1-t2", "s1-t3"]
    # Each turn adds its question (2 words + the tag's 3) and the previous answer (3 words).
    prompt_tokens = [e.prompt_tokens for e in ledger]
    assert prompt_tokens[0] == 2 + 5
    assert [b - a for a, b in itertools.pairwise(prompt_tokens)] == [3 + 5, 3 + 5]
