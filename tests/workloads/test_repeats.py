"""Near-duplicates (``[workload.repeat]``): shares, targets, paraphrases and determinism."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.prompt_text import count_tokens
from harness.contract.records import PlannedRequest, from_dict, to_json_line
from harness.contract.topic_marker import find_topic_marker
from workloads.paraphrase import edit_probability, paraphrase
from workloads.planner import build_plan
from workloads.scenario import parse_scenario


def _scenario(repeat: dict[str, Any], kind: str = "stream", seed: int = 1, rate: float = 40.0):
    workload: dict[str, Any] = {"kind": kind, "repeat": repeat}
    if kind == "stream":
        workload["prompt_tokens"] = 20
    other = {"kind": "stream", "prompt_tokens": 20, "share": 0.5}
    return parse_scenario(
        {
            "seed": seed,
            "duration": "30s",
            "arrival": {"rate": f"{rate}/s"},
            "workload": [workload, other],
        }
    )


def _first_turns(plan: list[PlannedRequest]) -> list[PlannedRequest]:
    return [r for r in plan if r.turn == 1]


@settings(max_examples=8, deadline=None)
@given(
    share=st.floats(0.1, 0.9),
    paraphrase_share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_shares_and_targets(share: float, paraphrase_share: float, seed: int) -> None:
    repeat = {"share": share, "paraphrase_share": paraphrase_share}
    scenario = _scenario(repeat, seed=seed)
    plan = build_plan(scenario)
    assert plan == build_plan(scenario)  # deterministic per seed
    by_id = {r.request_id: r for r in plan}
    firsts = _first_turns(plan)
    # The second workload has no table: none of its requests repeat or carry a marker.
    marked = [r for r in firsts if find_topic_marker(r.messages[-1].content)]
    repeats = [r for r in firsts if r.repeat_of]
    assert len(marked) >= len(repeats)
    for request in repeats:
        original = by_id[request.repeat_of]
        assert original.offset_s <= request.offset_s
        assert not original.repeat_of  # repeats point at originals
        assert original.tags == request.tags
        marker = find_topic_marker(request.messages[-1].content)
        assert marker is not None and marker.topic == original.request_id
        assert request.prompt_tokens == sum(m.tokens for m in request.messages)
    # Shares within 5 binomial standard deviations (sessions of the repeating workload).
    n = len(marked)
    assert abs(len(repeats) - share * n) <= 5 * np.sqrt(n * share * (1 - share)) + 2
    paraphrases = [r for r in repeats if r.similarity is not None and r.similarity < 1.0]
    k = len(repeats)
    p = paraphrase_share
    assert abs(len(paraphrases) - p * k) <= 5 * np.sqrt(k * p * (1 - p)) + 2


def test_similarity_follows_its_distribution_and_words_change_with_it() -> None:
    repeat = {
        "share": 1.0,
        "paraphrase_share": 1.0,
        "similarity": {"dist": "uniform", "min": 0.6, "max": 0.9},
    }
    plan = build_plan(_scenario(repeat, rate=20))
    by_id = {r.request_id: r for r in plan}
    paraphrases = [r for r in plan if r.repeat_of]
    assert len(paraphrases) > 100
    similarities = np.array([r.similarity for r in paraphrases], dtype=float)
    assert similarities.min() >= 0.6 and similarities.max() <= 0.9
    assert abs(similarities.mean() - 0.75) < 0.03
    for request in paraphrases:
        original = by_id[request.repeat_of]
        assert request.messages[0].content  # reworded, written out
        assert request.messages[0].tokens == original.messages[0].tokens


def test_popularity_concentrates_repeats_on_few_originals() -> None:
    def top_share(s: float) -> float:
        plan = build_plan(_scenario({"share": 0.8, "popularity_zipf_s": s}))
        counts = Counter(r.repeat_of for r in plan if r.repeat_of)
        return counts.most_common(1)[0][1] / sum(counts.values())

    assert top_share(2.0) > 0.2 > 0.05 > top_share(0.0)


def test_recency_shortens_the_gap() -> None:
    def mean_gap_s(recency: str | None) -> float:
        repeat: dict[str, Any] = {"share": 0.5, "popularity_zipf_s": 0.0}
        if recency:
            repeat["recency"] = recency
        plan = build_plan(_scenario(repeat))
        by_id = {r.request_id: r for r in plan}
        gaps = [r.offset_s - by_id[r.repeat_of].offset_s for r in plan if r.repeat_of]
        return float(np.mean(gaps))

    assert mean_gap_s("1s") < 2.0 < 5.0 < mean_gap_s(None)


def test_chat_and_rag_repeat_their_first_turn_only() -> None:
    for kind in ("chat", "rag"):
        plan = build_plan(_scenario({"share": 0.5, "paraphrase_share": 0.5}, kind=kind, rate=5))
        repeated = [r for r in plan if r.repeat_of]
        assert repeated and all(r.turn == 1 for r in repeated)
        by_id = {r.request_id: r for r in plan}
        for request in repeated:
            original = by_id[request.repeat_of]
            # System prompt (and documents) are the original's; only the question differs.
            assert request.messages[:-2] == original.messages[:-2]


@settings(max_examples=30, deadline=None)
@given(similarity=st.floats(0.0, 1.0), seed=st.integers(0, 2**31), words=st.integers(1, 80))
def test_paraphrase_keeps_word_count(similarity: float, seed: int, words: int) -> None:
    text = " ".join(["please", "explain", "the", "refund", "price"] * 16)
    text = " ".join(text.split()[:words])
    first = paraphrase(text, similarity, np.random.default_rng(seed))
    assert first == paraphrase(text, similarity, np.random.default_rng(seed))
    assert count_tokens(first) == words
    if similarity >= 1.0:
        assert first == text


def test_paraphrase_edits_about_the_planned_share() -> None:
    rng = np.random.default_rng(5)
    text = " ".join(["explain"] * 2000)  # every word has a synonym: one edit, one changed word
    for similarity in (0.95, 0.8, 0.6):
        changed = sum(
            a != b
            for a, b in zip(text.split(), paraphrase(text, similarity, rng).split(), strict=True)
        )
        assert abs(changed / 2000 - edit_probability(similarity)) < 0.04


def test_plan_lines_without_repeats_are_unchanged() -> None:
    plan = build_plan(_scenario({"share": 0.5, "paraphrase_share": 1.0}))
    plain = next(r for r in plan if not r.repeat_of)
    repeat = next(r for r in plan if r.repeat_of)
    assert b"repeat_of" not in to_json_line(plain)
    assert b"similarity" not in to_json_line(plain)
    for request in (plain, repeat):
        assert from_dict(PlannedRequest, orjson.loads(to_json_line(request))) == request
