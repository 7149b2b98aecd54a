"""A dead worker's journal against its ledger: each attempt journalled without a ledger line
becomes one ``reset`` line (fault ``worker_died``), never one that has its line already."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from harness.contract.ledger import WORKER_DIED_FAULT, Ledger
from harness.contract.records import to_json_line
from mock_models.fleet.journal import left_open, open_line
from mock_models.http.draft import AttemptDraft
from mock_models.http.server import MockService
from mock_models.settings import MockSettings
from mock_models.sim.progress import Progress


def _draft(received_s: float, request_id: str | None, attempt: int | None) -> AttemptDraft:
    headers = {"x-tokenstorm-run-id": "run"}
    if request_id is not None:
        headers["x-tokenstorm-request-id"] = request_id
    if attempt is not None:
        headers["x-tokenstorm-attempt"] = str(attempt)
    draft = AttemptDraft(headers, received_s)
    draft.deployment, draft.model, draft.stream, draft.prompt_tokens = "d", "m", True, 12
    return draft


def _ledger_line(draft: AttemptDraft) -> bytes:
    """The ledger line the worker writes when the attempt ends (as ``AnswerRoute`` does)."""
    progress = Progress()
    progress.status, progress.tokens = 200, 5
    return to_json_line(draft.entry("openai_chat", progress, 3.0))


def test_attempts_without_their_ledger_line_are_reset_once() -> None:
    done = _draft(1.25, "r1", 1)
    open_a = _draft(1.5, "r2", 1)
    open_b = _draft(1.5, "r2", 2)  # same arrival time, another attempt: another key
    anonymous = _draft(0.125, None, None)
    journal = b"".join(open_line(d, "openai_chat") for d in (done, open_a, open_b, anonymous))
    # A repeated journal line and a half one (the writer killed mid-line) change nothing.
    journal += open_line(open_a, "openai_chat") + b'{"received_s": 9'
    ledger = _ledger_line(done) + b'{"received_s": 1.5, "run'  # a half ledger line, too
    entries = left_open(journal, ledger, died_s=2.0)
    assert [(e.request_id, e.attempt, e.received_s) for e in entries] == [
        ("r2", 1, 1.5),
        ("r2", 2, 1.5),
        (None, None, 0.125),
    ]
    first = entries[0]
    assert (first.outcome, first.fault, first.status_code) == ("reset", WORKER_DIED_FAULT, 0)
    assert (first.run_id, first.deployment, first.model, first.api) == (
        "run",
        "d",
        "m",
        "openai_chat",
    )
    assert first.stream and first.prompt_tokens == 12 and first.completion_tokens == 0
    assert first.service_ms == 500.0 and first.lag_ms is None  # unknown, not 0
    # Once written, the reset lines are the attempts' lines: a second look adds none.
    ledger += b"\n" + b"".join(map(to_json_line, entries))
    assert left_open(journal, ledger, died_s=3.0) == []


@given(
    st.lists(st.integers(0, 10_000), unique=True, max_size=30),
    st.data(),
)
def test_journal_and_ledger_partition_the_attempts(
    arrivals: list[int], data: st.DataObject
) -> None:
    drafts = [_draft(n / 64.0, f"r{n}", 1) for n in arrivals]
    ended = data.draw(st.lists(st.sampled_from(drafts), unique_by=id) if drafts else st.just([]))
    journal = b"".join(open_line(d, "openai_chat") for d in drafts)
    ledger = b"".join(_ledger_line(d) for d in ended)
    reset = left_open(journal, ledger, died_s=200.0)
    assert len(reset) + len(ended) == len(drafts)
    assert {e.request_id for e in reset}.isdisjoint({d.request_id for d in ended})


def test_a_service_tells_its_journal_of_each_admitted_attempt() -> None:
    service = MockService(MockSettings(), Ledger())
    heard: list[bytes] = []
    service.opened(_draft(1.0, "r", 1), "openai_chat")  # nobody listens: nothing happens
    service.journal = lambda draft, api: heard.append(open_line(draft, api))
    service.opened(_draft(2.0, "r", 2), "openai_chat")
    assert [orjson.loads(line)["attempt"] for line in heard] == [2]
