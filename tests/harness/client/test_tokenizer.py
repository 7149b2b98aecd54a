"""``[target] tokenizer``: a tiny BPE (made by the ``bpe_tokenizer`` fixture with the
``tokenizers`` library) sizes the prompts (within the planned count, short by less than one
word) and counts them; the mock's whitespace words stay the default; bad files fail with one
line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.client.tokenizer import (
    FileTokenizer,
    MockTokenizer,
    TokenizerError,
    load_tokenizer,
)
from harness.contract.prompt_text import VOCABULARY, count_tokens, synthetic_text
from workloads.scenario import ScenarioError, load_scenario


def test_prompts_are_sized_in_the_tokenizers_tokens(bpe_tokenizer: Path) -> None:
    tokenizer = FileTokenizer(bpe_tokenizer)
    words = synthetic_text(256, 7)
    assert tokenizer.count(words) > 400  # the mock's 256 words are far more BPE tokens
    most_per_word = max(tokenizer.count(word) for word in VOCABULARY)
    for tokens, seed in ((256, 7), (1, 3), (37, 11), (1000, 5)):
        text = tokenizer.text(tokens, seed)
        assert tokens - most_per_word < tokenizer.count(text) <= tokens
        # The same words the mock would send, fewer of them, so shared prefixes stay shared.
        assert synthetic_text(count_tokens(text), seed) == text
        assert tokenizer.text(tokens, seed) is text
    assert tokenizer.text(0, 1) == ""
    assert tokenizer.name == "tokenizer.json"


def test_the_mock_tokenizer_is_the_default() -> None:
    tokenizer = load_tokenizer(None)
    assert isinstance(tokenizer, MockTokenizer) and tokenizer.name == "mock"
    assert tokenizer.text(256, 7) == synthetic_text(256, 7)
    assert tokenizer.count("a b  c") == 3


def test_a_missing_or_broken_tokenizer_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no such file"):
        load_tokenizer(str(tmp_path / "absent.json"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"not": "a tokenizer"}')
    with pytest.raises(TokenizerError, match=r"is not a tokenizer\.json"):
        load_tokenizer(str(broken))


def test_the_scenario_finds_the_tokenizer_beside_it(tmp_path: Path, bpe_tokenizer: Path) -> None:
    (tmp_path / "tok.json").write_bytes(bpe_tokenizer.read_bytes())
    text = (
        '[target]\nurl = "http://127.0.0.1:9/v1"\ntokenizer = "{}"\n[[workload]]\nkind = "chat"\n'
    )
    path = tmp_path / "s.toml"
    path.write_text(text.format("tok.json"))
    assert load_scenario(path).target.tokenizer == str((tmp_path / "tok.json").resolve())
    path.write_text(text.format("nope.json"))
    with pytest.raises(ScenarioError, match=r"target\.tokenizer: no tokenizer file 'nope.json'"):
        load_scenario(path)
