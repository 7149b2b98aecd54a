"""One reading of provider usage for the client and the fault proxy."""

from __future__ import annotations

from dataclasses import dataclass

from harness.client.usage import ANTHROPIC_API, read_usage


@dataclass
class _Counts:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


def test_anthropic_parts_add_cache_reads_and_writes_to_the_prompt() -> None:
    counts = _Counts()
    read_usage(
        ANTHROPIC_API,
        {
            "input_tokens": 7,
            "output_tokens": 1,
            "cache_read_input_tokens": 1200,
            "cache_creation_input_tokens": 300,
        },
        counts,
    )
    read_usage(ANTHROPIC_API, {"output_tokens": 42}, counts)  # message_delta: output only
    assert counts == _Counts(1507, 42, 1200, 300)


def test_openai_usage_keeps_what_a_part_does_not_carry() -> None:
    counts = _Counts(prompt_tokens=5)
    read_usage(
        "openai-chat",
        {"completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 3}},
        counts,
    )
    assert counts == _Counts(5, 9, 3, None)
    read_usage("openai-chat", {"prompt_tokens": 11, "completion_tokens": 9}, counts)
    assert (counts.prompt_tokens, counts.cached_tokens) == (11, 0)
