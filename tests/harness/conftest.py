"""Fixtures for harness tests: hand-made runs (request shapes in, a ``RunData`` with a real
summary out) for gates and compare. The virtual-time loop is in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.contract.prompt_text import VOCABULARY
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.cost import load_price_book
from harness.metrics.summary import SummaryInputs, summarize
from harness.stats.run_data import RunData
from workloads.scenario import parse_scenario

DURATION_S = 60.0


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tokenizer.json`` made here: a BPE trained on the mock's own words with too small a
    vocabulary to hold them whole, so most words become 2 or more tokens, as under a real
    model's tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"])
    tokenizer.train_from_iterator([" ".join(VOCABULARY)] * 4, trainer)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


@dataclass(frozen=True)
class Req:
    ttft_s: float
    e2e_s: float
    at_s: float = 1.0
    model: str = "mock-small"
    tags: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    fault: str | None = None


def _records(index: int, req: Req) -> tuple[PlannedRequest, AttemptRecord]:
    request_id = f"r{index}"
    planned = PlannedRequest(
        request_id=request_id,
        session_id=f"s{index}",
        turn=1,
        offset_s=req.at_s,
        think_s=0.0,
        prompt_tokens=100,
        max_tokens=8,
        model=req.model,
        api="openai-chat",
        stream=True,
        messages=(),
        tags=req.tags,
    )
    ok = req.outcome == "ok"
    first = req.at_s + req.ttft_s if ok else None
    done = req.at_s + req.e2e_s
    record = AttemptRecord(
        request_id=request_id,
        session_id=f"s{index}",
        turn=1,
        attempt=1,
        scheduled_s=req.at_s,
        sent_s=req.at_s,
        first_byte_s=first,
        first_token_s=first,
        done_s=done,
        status_code=200 if ok else 500,
        outcome=req.outcome,
        prompt_tokens=100,
        completion_tokens=3 if ok else None,
        cached_tokens=0,
        usage_source="server" if ok else None,
        model=req.model,
        deployment="d-" + req.model,
        error_detail=None,
        token_times_s=((req.at_s + (req.ttft_s + req.e2e_s) / 2, done) if ok else ()),
        tags=req.tags,
        fault=req.fault,
    )
    return planned, record


def make_run_from(
    requests: Sequence[Req],
    label: str = "run",
    client_cpu_s: float | None = 1.0,
    plan_sha256: str = "plan-1",
) -> RunData:
    scenario = parse_scenario(
        {"name": label, "duration": DURATION_S, "workload": [{"kind": "stream"}]}
    )
    pairs = [_records(i, r) for i, r in enumerate(requests)]
    plan = tuple(p for p, _ in pairs)
    records = tuple(r for _, r in pairs)
    summary = summarize(
        SummaryInputs(
            run_id=label,
            duration_s=DURATION_S,
            plan=plan,
            records=records,
            ledger=None,
            prices=load_price_book({}),
            slo=scenario.slo,
            client_cpu_s=client_cpu_s,
            wall_s=DURATION_S,
        )
    )
    return RunData(
        label,
        summary,
        {"scenario": scenario.model_dump(mode="json")},
        plan,
        records,
        None,
        plan_sha256,
    )


@pytest.fixture
def make_run() -> Callable[..., RunData]:
    return make_run_from


@pytest.fixture
def req() -> type[Req]:
    return Req
