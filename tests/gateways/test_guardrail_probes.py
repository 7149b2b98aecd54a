"""Guardrail probes through LiteLLM's built-in keyword guardrail (``litellm_content_filter``,
configured by us: blocked phrases plus regex patterns for cards, e-mail addresses and keys).

The rules below are applied to the corpus here too, the way LiteLLM applies them (phrases:
case-insensitive substrings; patterns: case-insensitive regex searches); the run's measured
block and false-positive rates per category must be exactly what the plan's probes, their
corpus verdicts and those rules imply, and no blocked probe leaves a ledger line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.contract.records import PlannedRequest, read_jsonl
from tests.gateways.conftest import (
    MASTER_KEY,
    READY_S,
    Gateways,
    Service,
    Upstream,
    free_port,
)
from workloads.probe_corpus import CATEGORIES, CORPUS

PHRASES = (
    "ignore previous instructions",
    "ignore all previous instructions",
    "disregard the system prompt",
    "you are now dan",
    "developer mode",
)
PATTERNS = {
    "card_number": r"\b(?:\d[ -]?){13,16}\b",
    "email_address": r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}",
    "api_key": r"sk-(?:live|proj)-[a-z0-9]{20,}",
    "aws_key": r"akia[0-9a-z]{16}",
    "private_key": r"-----begin [a-z ]*private key-----",
}


def rules_block(text: str) -> bool:
    lower = text.lower()
    return any(p in lower for p in PHRASES) or any(
        re.search(p, text, re.IGNORECASE) for p in PATTERNS.values()
    )


def _config(api_base: str) -> str:
    words = "\n".join(f'        - keyword: "{p}"\n          action: BLOCK' for p in PHRASES)
    patterns = "\n".join(
        f"        - pattern_type: regex\n          name: {name}\n"
        f"          pattern: '{pattern}'\n          action: BLOCK"
        for name, pattern in PATTERNS.items()
    )
    return f"""model_list:
  - model_name: mock-small
    litellm_params:
      model: openai/mock-small
      api_base: {api_base}
      api_key: sk-upstream-unused
      timeout: 20
litellm_settings:
  num_retries: 0
  telemetry: false
guardrails:
  - guardrail_name: keyword-guard
    litellm_params:
      guardrail: litellm_content_filter
      mode: pre_call
      default_on: true
      blocked_words:
{words}
      patterns:
{patterns}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def guarded(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("guardrail")
    config = folder / "litellm_guardrail.yaml"
    config.write_text(_config(upstream.base_url + "/v1"))
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    command = [gateways.litellm, "--config", str(config), "--host", "127.0.0.1"]
    service = Service(
        "litellm (keyword guardrail)",
        [*command, "--port", str(port)],
        folder / "litellm.log",
        env=env,
        cwd=folder,
    )
    service.wait_ready(f"http://127.0.0.1:{port}/health/liveliness", READY_S["litellm"])
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        service.stop()


SCENARIO = """name = "probes"
seed = 3
duration = "6s"
drain = "30s"
[target]
url = "{url}"
model = "mock-small"
api_key_env = "TOKENSTORM_PROBE_KEY"
timeout = "20s"
tag_prompt = true
[client.retry]
attempts = 1
[arrival]
rate = "15/s"
[[workload]]
kind = "stream"
share = 0.5
prompt_tokens = 30
max_tokens = 12
[[workload]]
kind = "probe"
share = 0.5
max_tokens = 12
"""


def test_block_and_false_positive_rates_follow_from_the_rules(
    guarded: str, upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rules are not perfect, on purpose: some probes slip through, some look-alikes don't.
    assert any(i.verdict == "block" and not rules_block(i.text) for i in CORPUS)
    assert any(i.verdict == "pass" and rules_block(i.text) for i in CORPUS)
    monkeypatch.setenv("TOKENSTORM_PROBE_KEY", MASTER_KEY)
    scenario = tmp_path / "probes.toml"
    scenario.write_text(SCENARIO.format(url=guarded))
    args = ["run", str(scenario), "--ledger", upstream.ledger_url, "--out", str(tmp_path)]
    assert main([*args, "--run-id", "probes", "--no-progress"]) == 0
    run = tmp_path / "probes"
    summary = json.loads((run / "summary.json").read_text())
    plan = [p for p in read_jsonl(run / "plan.jsonl", PlannedRequest) if p.tags.get("class")]
    text = {item.probe_id: item.text for item in CORPUS}
    figures = summary["probes"]["by_category"]
    print()
    for category in CATEGORIES:
        group = [p for p in plan if p.tags["category"] == category]
        harmful = [p for p in group if p.tags["expected"] == "block"]
        lookalikes = [p for p in group if p.tags["expected"] == "pass"]
        blocked = sum(rules_block(text[p.tags["probe"]]) for p in harmful)
        false_positives = sum(rules_block(text[p.tags["probe"]]) for p in lookalikes)
        got = figures[category]
        print(category, got["block_rate"], got["false_positive_rate"], got["added_ms"])
        assert (got["expected_block"], got["blocked"]) == (len(harmful), blocked)
        assert (got["lookalikes"], got["false_positives"]) == (len(lookalikes), false_positives)
        assert got["block_rate"] == pytest.approx(blocked / len(harmful))
        assert got["false_positive_rate"] == pytest.approx(false_positives / len(lookalikes))
    assert summary["probe_block_rate"] is not None and 0 < summary["probe_block_rate"] < 1
    # The synthetic card numbers and keys appear in no file but the plan.
    for name in ("records.jsonl", "ledger.jsonl", "summary.json", "report.html", "report.md"):
        content = (run / name).read_text()
        assert "4927 1830 5561 2044" not in content and "AKIAQ7W3RT9XK2LM5NBV" not in content
    gate = tmp_path / "gate.toml"
    gate.write_text(
        '[thresholds]\n"probe_block_rate{category=secret}" = ["rate > 70%"]\n'
        '"probe_block_rate{category=jailbreak}" = ["rate > 90%"]\n'
    )
    code = main(["gate", str(run), "--budget", str(gate)])
    meets = figures["secret"]["block_rate"] > 0.7 and figures["jailbreak"]["block_rate"] > 0.9
    assert code == ((0 if meets else 99) if summary["valid"] else 98)
