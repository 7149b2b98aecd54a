"""pytest plugin: a ``tokenstorm_mock`` fixture that serves the mock model server, with the
faults a test asks for, for the length of one test of a user's own suite.

::

    @pytest.mark.tokenstorm_mock(
        faults={"rule": [{"kind": "http_429", "probability": 0.2}]}, seed=3
    )
    def test_my_client_retries(tokenstorm_mock):
        client = openai.OpenAI(base_url=tokenstorm_mock.api_url, api_key="unused")
        ...

Marker arguments: ``faults`` (a fault profile: a shipped name such as ``"flaky"``, a TOML
path, or a dict with ``rule`` entries, as ``tokenstorm mock --faults``), ``deployments`` (a
list of deployment dicts, as a scenario's ``[[mock.deployments]]``) and ``seed``. A test can
also force one fault per request with the ``x-tokenstorm-fault: KIND; param=value`` header.
Without the marker: the default deployments (mock-small, mock-large), no faults.
Registered through the ``pytest11`` entry point, or with ``-p harness.pytest_plugin``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.contract.config_errors import describe_validation_error
from mock_models.embedded import EmbeddedMock, MockStartError
from mock_models.settings import MockSettings

MARKER = "tokenstorm_mock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(faults=None, deployments=None, seed=0): settings "
        "of the "
        "tokenstorm_mock fixture (the tokenstorm mock model server)",
    )


def mock_settings(
    faults: Mapping[str, Any] | str | Path | None = None,
    deployments: Sequence[Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> MockSettings:
    """Validated mock settings; ``ValueError`` with one line naming the bad field."""
    data: dict[str, Any] = {"seed": seed}
    if faults is not None:
        data["faults"] = str(faults) if isinstance(faults, str | Path) else dict(faults)
    if deployments is not None:
        data["deployments"] = [dict(d) for d in deployments]
    try:
        return MockSettings.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(f"{MARKER} marker", exc)) from None


@pytest.fixture
def tokenstorm_mock(request: pytest.FixtureRequest) -> Iterator[EmbeddedMock]:
    """A running mock; ``.api_url`` (OpenAI/Anthropic base URL) and ``.ledger_url``."""
    marker = request.node.get_closest_marker(MARKER)
    try:
        settings = mock_settings(**(marker.kwargs if marker is not None else {}))
    except (ValueError, TypeError) as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        with EmbeddedMock(settings) as mock:
            yield mock
    except MockStartError as exc:
        pytest.fail(f"the tokenstorm mock did not start: {exc}", pytrace=False)
