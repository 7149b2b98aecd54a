"""Where the client places Anthropic prompt-cache breakpoints, and how it reads cache usage."""

from __future__ import annotations

import pytest

from harness.client.flavours import Answer, AnthropicMessages, flavour
from workloads.scenario import ScenarioError, parse_scenario

_MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "hello"},
    {"role": "user", "content": "more"},
]
_MARK = {"type": "ephemeral"}


def test_off_sends_plain_strings() -> None:
    body = AnthropicMessages().body("m", _MESSAGES, 10, stream=True)
    assert body["system"] == "be brief"
    assert [m["content"] for m in body["messages"]] == ["hi", "hello", "more"]


def test_system_marks_the_system_prompt_only() -> None:
    body = flavour("anthropic-messages", "system").body("m", _MESSAGES, 10, stream=True)
    assert body["system"] == [{"type": "text", "text": "be brief", "cache_control": _MARK}]
    assert [m["content"] for m in body["messages"]] == ["hi", "hello", "more"]


def test_conversation_also_marks_the_last_message() -> None:
    body = flavour("anthropic-messages", "conversation").body("m", _MESSAGES, 10, stream=False)
    assert body["system"][0]["cache_control"] == _MARK
    assert body["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "more", "cache_control": _MARK}],
    }
    assert [m["content"] for m in body["messages"][:-1]] == ["hi", "hello"]


def test_cache_usage_adds_up_to_the_whole_prompt() -> None:
    answer = Answer()
    flavour("anthropic-messages").read_body(
        {
            "type": "message",
            "model": "m",
            "content": [{"type": "text", "text": "a b"}],
            "usage": {
                "input_tokens": 7,
                "output_tokens": 2,
                "cache_read_input_tokens": 1200,
                "cache_creation_input_tokens": 300,
            },
        },
        answer,
        0.0,
    )
    assert (answer.prompt_tokens, answer.cached_tokens, answer.cache_write_tokens) == (
        1507,
        1200,
        300,
    )


def test_cache_control_is_refused_for_openai_and_unknown_modes() -> None:
    with pytest.raises(ValueError, match="needs api = 'anthropic-messages'"):
        flavour("openai-chat", "system")
    with pytest.raises(ValueError, match="unknown cache_control 'always'"):
        flavour("anthropic-messages", "always")
    with pytest.raises(ScenarioError, match="cache_control"):
        parse_scenario({"target": {"api": "openai-chat", "cache_control": "system"}}, "s.toml")
