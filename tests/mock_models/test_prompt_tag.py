"""The ledger learns run and request from the prompt tag when a gateway dropped the headers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mock_models.draft import AttemptDraft

_IDS = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)


@given(run_id=_IDS, request_id=_IDS, prefix=st.text(max_size=30).filter(lambda t: "[" not in t))
def test_the_tag_in_the_last_piece_names_run_and_request(
        run_id: str, request_id: str, prefix: str) -> None:
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
