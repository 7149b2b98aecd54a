"""What the mock's answer routes need of their server, as a narrow protocol: settings, faults,
listeners, limiters and engines to answer an attempt, the ticker to pace it, the ledger and
metrics to record it, and the naming of each attempt."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from harness.contract.ledger import Ledger
from mock_models.chaos.book import FaultBook
from mock_models.http.draft import AttemptDraft
from mock_models.http.listeners import DeploymentListeners
from mock_models.settings import MockSettings
from mock_models.sim.engine import DeploymentEngine
from mock_models.sim.metrics import DeploymentMetrics
from mock_models.sim.rate_limits import RateLimiter
from mock_models.sim.ticker import Ticker


class AttemptService(Protocol):
    """What every route that answers attempts needs of the server: settings, faults,
    listeners, limiters and engines to admit an attempt, the ledger to record it (and the
    news of it open, for a fleet's journal), and the naming of each attempt (the
    embeddings route needs no more)."""

    @property
    def settings(self) -> MockSettings: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def engines(self) -> Mapping[str, DeploymentEngine]: ...

    @property
    def faults(self) -> FaultBook: ...

    @property
    def listeners(self) -> DeploymentListeners: ...

    @property
    def limiters(self) -> Mapping[str, RateLimiter]: ...

    def identify(self, draft: AttemptDraft, now_s: float) -> int: ...

    def abandoned(self, draft: AttemptDraft, transport: asyncio.BaseTransport | None) -> None: ...

    def opened(self, draft: AttemptDraft, api: str) -> None:
        """The attempt is admitted to its deployment and open until its ledger line."""


class AnswerService(AttemptService, Protocol):
    """What the generating routes need besides: the ticker to pace an answer and the
    deployments' metrics to record it."""

    @property
    def metrics(self) -> Mapping[str, DeploymentMetrics]: ...

    @property
    def ticker(self) -> Ticker: ...
