"""Fixtures for harness tests: an event loop whose clock is virtual (no real sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """When nothing is ready to run, jump the clock to the next timer instead of waiting.

    Timing logic (schedules, backoff, deadlines) then runs instantly and exactly.
    """

    def __init__(self) -> None:
        super().__init__()
        self._virtual_s = 1000.0

    def time(self) -> float:
        return self._virtual_s

    def _run_once(self) -> None:
        ready = self._ready  # type: ignore[attr-defined]
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if not ready:
            pending = [h._when for h in scheduled if not h._cancelled]
            if pending and min(pending) > self._virtual_s:
                self._virtual_s = min(pending)
        super()._run_once()  # type: ignore[misc]


def run_virtual(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(factory())
    finally:
        loop.close()


@pytest.fixture
def virtual() -> Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]:
    return run_virtual
