"""The guardrail probe corpus and the ``probe`` workload."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from workloads.planner import build_plan
from workloads.probe_corpus import CATEGORIES, CORPUS
from workloads.scenario import ScenarioError, parse_scenario


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def test_corpus_is_tagged_and_its_cards_pass_luhn() -> None:
    assert len({item.probe_id for item in CORPUS}) == len(CORPUS)
    for category in CATEGORIES:
        verdicts = Counter(item.verdict for item in CORPUS if item.category == category)
        assert verdicts["block"] >= 3 and verdicts["pass"] >= 2, category
    cards = [
        re.sub(r"\D", "", match)
        for item in CORPUS
        for match in re.findall(r"\b(?:\d[ -]?){13,16}\b", item.text)
    ]
    assert len(cards) >= 3 and all(_luhn_ok(card) for card in cards)
    emails = [m for item in CORPUS for m in re.findall(r"\S+@(\S+?)\.?\s", item.text + " ")]
    assert emails and all(domain.startswith("example.") for domain in emails)


def test_probes_mix_in_at_their_share_with_their_tags() -> None:
    data = {
        "seed": 2,
        "duration": "60s",
        "arrival": {"rate": "20/s"},
        "workload": [
            {"kind": "stream", "share": 0.8},
            {"kind": "probe", "share": 0.2, "categories": ["pii", "secret"]},
        ],
    }
    plan = build_plan(parse_scenario(data))
    assert plan == build_plan(parse_scenario(data))
    probes = [p for p in plan if p.tags.get("class") == "probe"]
    assert abs(len(probes) / len(plan) - 0.2) < 0.04
    texts = {item.probe_id: item for item in CORPUS}
    for probe in probes:
        item = texts[probe.tags["probe"]]
        assert probe.tags["category"] == item.category in ("pii", "secret")
        assert probe.tags["expected"] == item.verdict
        assert probe.messages[0].content == item.text
    # every item of the chosen categories turns up
    chosen = {i.probe_id for i in CORPUS if i.category in ("pii", "secret")}
    assert {p.tags["probe"] for p in probes} == chosen


def test_an_unknown_category_is_one_clear_line() -> None:
    bad = {"workload": [{"kind": "probe", "categories": ["malware"]}]}
    with pytest.raises(ScenarioError, match=r"categories.*malware"):
        parse_scenario(bad)
