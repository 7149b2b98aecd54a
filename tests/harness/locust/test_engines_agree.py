"""Both engines drive one session flow, so for the same seeded plan against the same mock
(faults drawn per request and attempt, so both see the same ones) they write the same
records: the same attempts with the same outcomes, statuses and prompt sizes (the history
holds the answers the mock gave), the same reasons for what was never sent, and the same
intended times: a root's first turn at its offset and a retry at the previous attempt's end
plus the same delay, exactly; a turn after an answer within the loopback's noise. A plan with
embeddings (rag's ``embed_query``, the ``embed`` kind) sends each attempt by the client of its
wire API on both engines: the same attempts, outcomes, APIs and prompt sizes. The Locust
engine takes the plan as a worker does, in windows that come while it runs."""

from __future__ import annotations

import asyncio
import time

import gevent
import numpy as np
import pytest

from harness.client.http import HttpClient
from harness.contract.apis import OPENAI_CHAT, OPENAI_EMBEDDINGS, SIDE_APIS
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.contract.target import Backoff, RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig, LiveStats
from harness.locust.deal import PlanWindows
from harness.locust.sessions import GeventEngine
from harness.locust.transport import GeventClient
from mock_models.embedded import EmbeddedMock
from mock_models.settings import MockSettings
from workloads.planner import build_plan
from workloads.request_cap import plan_units
from workloads.scenario import parse_scenario

#: A turn sent after an answer is intended at the engine's clock then: loopback noise.
NOISE_S = 0.25
#: How far ahead of the run clock the Locust engine is sent its windows.
AHEAD_S = 1.0

SCENARIO = {
    "seed": 11,
    "duration": 3.0,
    "arrival": {"rate": 4},
    "workload": [
        {
            "kind": "agent_loop",
            "system_prompt_tokens": 40,
            "task_tokens": {"dist": "uniform", "min": 5, "max": 30},
            "tool_output_tokens": {"dist": "uniform", "min": 5, "max": 30},
            "tool_latency": {"dist": "uniform", "min": 0.05, "max": 0.3},
            "max_tokens": 8,
            "turns": {"dist": "uniform", "min": 1, "max": 3},
            "subagents": {
                "probability": 0.5,
                "turns": {"dist": "uniform", "min": 1, "max": 2},
                "count": {"dist": "uniform", "min": 1, "max": 2},
            },
        }
    ],
}
MOCK = {
    "seed": 5,
    "deployments": [
        {
            "name": "only",
            "model": "*",
            "ttft_ms": 10,
            "itl_ms": 1,
            "output_tokens": 6,
            "output_tokens_sigma": 0,
        }
    ],
    "faults": {
        "name": "agree",
        "rule": [
            {"kind": "http_429", "probability": 0.15, "params": {"retry_after_s": 0.3}},
            {"kind": "http_500", "probability": 0.1},
        ],
    },
}


def _config(run_id: str) -> EngineConfig:
    retry = RetryPolicy(attempts=2, backoff=Backoff(base=0.2, max=1.0, jitter=0.0))
    return EngineConfig(run_id, 20.0, 5.0, 10.0, None, retry, tag_prompt=True)


def _asyncio_records(url: str, plan: list[PlannedRequest]) -> list[AttemptRecord]:
    """The plan sent as the runner sends it: a client for the target's API and one for each
    side API (embeddings)."""
    records: list[AttemptRecord] = []

    async def main() -> None:
        client = HttpClient(url, OPENAI_CHAT)
        side = {api: HttpClient(url, api) for api in SIDE_APIS}
        try:
            rng = np.random.default_rng(0)
            config = _config("asyncio")
            engine = Engine(
                config, client, records.append, now=time.perf_counter, rng=rng, senders=side
            )
            await engine.run(plan)
        finally:
            for each in (client, *side.values()):
                await each.close()

    asyncio.run(main())
    return records


def _gevent_records(url: str, plan: list[PlannedRequest]) -> list[AttemptRecord]:
    """The plan sent as a Locust worker sends it (``harness.locust.worker``): its units in
    windows ``AHEAD_S`` ahead of the run clock, added while the engine runs."""
    records: list[AttemptRecord] = []
    client = GeventClient(url, OPENAI_CHAT)
    side = {api: GeventClient(url, api) for api in SIDE_APIS}
    start_s = time.perf_counter()
    windows = PlanWindows(iter(plan_units(plan)), 20.0)
    added: list[int] = []

    def clock() -> float:
        return time.perf_counter() - start_s

    def feed(engine: GeventEngine) -> None:
        while not windows.exhausted:
            window = [r for unit in windows.take(clock() + AHEAD_S) for r in unit]
            if window:
                engine.add(window)
                added.append(len(window))
            gevent.sleep(AHEAD_S / 4)
        engine.end_of_plan()

    try:
        engine = GeventEngine(
            _config("gevent"),
            client,
            sink=records.append,
            clock=clock,
            start_s=start_s,
            rng=np.random.default_rng(0),
            stats=LiveStats(),
            senders=side,
        )
        feeder = gevent.spawn(feed, engine)
        engine.run()
        feeder.kill()
    finally:
        for each in (client, *side.values()):
            each.close()
    assert len(added) > 2 and sum(added) == len(plan)  # windows came while it ran
    return records


def _by_attempt(records: list[AttemptRecord]) -> dict[tuple[str, int], AttemptRecord]:
    return {(r.request_id, r.attempt): r for r in records}


def _what(record: AttemptRecord) -> tuple[object, ...]:
    """What both engines must agree on besides the times."""
    fields = (record.outcome, record.status_code, record.planned_prompt_tokens)
    return (*fields, record.error_detail, record.sent_s is None)


@pytest.mark.slow
@pytest.mark.timing
def test_both_engines_write_the_same_records_for_one_seeded_plan() -> None:
    plan = build_plan(parse_scenario(SCENARIO))
    assert any(r.spawned_by for r in plan) and any(r.waits_for for r in plan)
    with EmbeddedMock(MockSettings.model_validate(MOCK)) as mock:
        a = _by_attempt(_asyncio_records(mock.api_url, plan))
        b = _by_attempt(_gevent_records(mock.api_url, plan))
    assert sorted(a) == sorted(b)
    assert {request_id for request_id, _ in a} == {r.request_id for r in plan}
    retried = [key for key in a if key[1] > 1]
    unsent = [r for r in a.values() if r.sent_s is None]
    assert retried and unsent  # the faults hit: retries, and a turn failed for good
    planned = {r.request_id: r for r in plan}
    for key, one in a.items():
        other = b[key]
        assert _what(one) == _what(other), key
        request_id, attempt = key
        request = planned[request_id]
        if attempt > 1:  # the previous attempt's end plus the same delay
            before_a, before_b = a[request_id, attempt - 1], b[request_id, attempt - 1]
            delay_a = one.scheduled_s - (before_a.done_s or 0.0)
            delay_b = other.scheduled_s - (before_b.done_s or 0.0)
            assert abs(delay_a - delay_b) < 1e-5, key
        elif request.turn == 1 and not request.spawned_by:
            assert one.scheduled_s == other.scheduled_s == round(request.offset_s, 6), key
        else:
            assert abs(one.scheduled_s - other.scheduled_s) < NOISE_S, key


EMBED_SCENARIO = {
    "seed": 12,
    "duration": 2.5,
    "arrival": {"rate": 6},
    "workload": [
        {
            "kind": "rag",
            "documents": 20,
            "documents_per_request": 2,
            "document_tokens": {"dist": "uniform", "min": 20, "max": 60},
            "question_tokens": {"dist": "uniform", "min": 5, "max": 15},
            "turns": 2,
            "think_time": 0.01,
            "max_tokens": 6,
            "embed_query": True,
        },
        {"kind": "embed", "share": 0.4, "documents": 30, "batch_size": 4, "document_tokens": 25},
    ],
}


@pytest.mark.slow
def test_both_engines_send_embeddings_by_their_own_client() -> None:
    plan = build_plan(parse_scenario(EMBED_SCENARIO))
    embeddings = {r.request_id for r in plan if r.api == OPENAI_EMBEDDINGS}
    assert embeddings and len(embeddings) < len(plan)  # both APIs in one plan
    with EmbeddedMock(MockSettings.model_validate(MOCK)) as mock:
        a = _by_attempt(_asyncio_records(mock.api_url, plan))
        b = _by_attempt(_gevent_records(mock.api_url, plan))
    assert sorted(a) == sorted(b)
    assert {request_id for request_id, _ in a} == {r.request_id for r in plan}
    assert {r.api for r in b.values()} == {OPENAI_CHAT, OPENAI_EMBEDDINGS}
    sent_ok = [r for r in b.values() if r.api == OPENAI_EMBEDDINGS and r.outcome == "ok"]
    assert len(sent_ok) >= 0.5 * len(embeddings)  # answered: not a chat body sent to /embeddings
    assert any(key[1] > 1 for key in a)  # the faults hit embeddings and chat alike
    for key, one in a.items():
        other = b[key]
        assert _what(one) == _what(other), key
        assert (one.api, one.prompt_tokens) == (other.api, other.prompt_tokens), key
