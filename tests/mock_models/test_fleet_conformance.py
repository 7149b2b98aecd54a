"""The fault matrix, the openai SDK conformance tests and the own-listener tests, run again
against a mock of two workers on one port (their fixtures replaced by fleet-backed ones); in
the listener tests each replica with a port of its own is pinned to its own worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest

from mock_models.embedded import EmbeddedMock
from mock_models.settings import MockSettings
from tests.mock_models.test_deployment_listeners import (
    test_a_stream_in_flight_when_the_listener_dies_is_a_reset_on_both_sides,
    test_down_closes_the_replicas_listener_for_the_window,
    test_flap_follows_its_target_deployment,
)
from tests.mock_models.test_fault_matrix import (
    _settings,
    test_a_bad_fault_header_gets_a_400_naming_it,
    test_fault_on_the_mock,
    test_first_attempts_lets_the_retry_through,
)
from tests.mock_models.test_openai_sdk import (
    test_models_list_and_unknown_model,
    test_non_streaming,
    test_streaming_with_usage,
    test_streaming_without_usage_sends_no_usage_field,
)

__all__ = [
    "test_a_bad_fault_header_gets_a_400_naming_it",
    "test_a_stream_in_flight_when_the_listener_dies_is_a_reset_on_both_sides",
    "test_down_closes_the_replicas_listener_for_the_window",
    "test_fault_on_the_mock",
    "test_first_attempts_lets_the_retry_through",
    "test_flap_follows_its_target_deployment",
    "test_models_list_and_unknown_model",
    "test_non_streaming",
    "test_streaming_with_usage",
    "test_streaming_without_usage_sends_no_usage_field",
]


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with EmbeddedMock(_settings(), workers=2) as mock:
        yield mock.base_url


@contextlib.asynccontextmanager
async def _fleet(settings: MockSettings) -> AsyncIterator[str]:
    mock = EmbeddedMock(settings, workers=2)
    await asyncio.to_thread(mock.start)
    try:
        yield mock.base_url
    finally:
        await asyncio.to_thread(mock.stop)


@pytest.fixture
def serving() -> Callable[[MockSettings], AbstractAsyncContextManager[str]]:
    return _fleet
