"""The demo's faults, a shipped profile, are applied as its old table applied them: 429 (with
its retry-after), 500 and 503 before any byte, a cut after 10 tokens, with their ledger
outcomes; and the profile keeps the table's shares in the table's order."""

from __future__ import annotations

import orjson
import pytest

from faults.catalogue import CATALOGUE, FaultKind
from faults.decide import FaultChoice
from faults.injection import error_body, error_headers
from faults.profile import load_profile
from harness.api.registry import wire_api
from mock_models.chaos.actions import abandoned_outcome, fault_outcome
from mock_models.chaos.tamper import Tamper

_DEMO = load_profile("demo")


def test_the_demo_profile_keeps_the_tables_shares_in_its_order() -> None:
    # One draw per attempt splits [0, 1) in this order: the same regions as the table's.
    assert [(rule.kind.value, rule.probability) for rule in _DEMO.rule] == [
        ("http_429", 0.04),
        ("http_500", 0.02),
        ("http_503", 0.02),
        ("cut", 0.03),
    ]
    for rule in _DEMO.rule:
        assert rule.window.weight(0.0) == rule.window.weight(3600.0) == 1.0
        assert rule.first_attempts is None and rule.targets.match("d", "m", "openai-chat", True)


@pytest.mark.parametrize("api_name", ["openai-chat", "anthropic-messages"])
def test_each_demo_refusal_has_its_status_and_retry_after(api_name: str) -> None:
    api = wire_api(api_name)
    refusals = {rule.kind: rule.resolved_params() for rule in _DEMO.rule[:3]}
    assert [CATALOGUE[kind].status for kind in refusals] == [429, 500, 503]
    for kind, params in refusals.items():
        headers = error_headers(kind, api, params)
        # Only the 429 asks the client to wait: 0.5 s, as retry-after (whole s) and -ms.
        wait = {k: v for k, v in headers.items() if k.startswith("retry-after")}
        assert wait == ({"retry-after": "1", "retry-after-ms": "500"} if kind == "http_429" else {})
        assert orjson.loads(error_body(kind, api))  # a provider-shaped JSON body
        assert fault_outcome(kind, stream=True) == (
            "http_429" if kind == "http_429" else "http_5xx"
        )


@pytest.mark.parametrize("api_name", ["openai-chat", "anthropic-messages"])
def test_the_demo_cut_ends_the_answer_after_ten_tokens(api_name: str) -> None:
    api = wire_api(api_name)
    cut = _DEMO.rule[3]
    tamper = Tamper.of(FaultChoice(cut.kind, cut.resolved_params()), api)
    assert tamper is not None and (tamper.kind, tamper.limit) == (FaultKind.CUT, 10)
    assert fault_outcome(cut.kind, stream=True) == fault_outcome(cut.kind, False) == "stream_cut"
    # A client that leaves a cut answer is a cancelled attempt, not a timeout.
    assert abandoned_outcome(cut.kind.value, "stream_cut") == "cancelled"
