"""Fixtures for every test: an event loop on virtual time (no real sleeping, exact times), and
a mock clock (``mock_models.sim.clock.Clock``) that reads it.

The loop is asyncio's own selector loop, built with a selector of ours (a public constructor
argument) and its ``time()`` overridden: when the loop would wait for its next timer, the
selector first polls for I/O, and when none is ready moves the clock to that timer instead of
sleeping. ``VirtualTimeLoop.advance`` stands for code that holds the loop (a slow write, a
stall): time moves on, and nothing else runs meanwhile.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

#: Where virtual time starts (far from 0, as a monotonic clock is).
START_S = 1000.0


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that moves a virtual clock forward instead of waiting with nothing ready."""

    def __init__(self) -> None:
        super().__init__()
        self.now_s = START_S

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only I/O (or another thread) can wake the loop
            return super().select(None)
        self.now_s += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """When nothing is ready to run, jump the clock to the next timer instead of waiting."""

    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now_s

    def advance(self, seconds: float) -> None:
        """The running code took ``seconds``: the clock moves on, nothing else runs."""
        self._jumping.now_s += seconds


def run_virtual(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``factory()`` to its end on a fresh ``VirtualTimeLoop``."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(factory())


@pytest.fixture(scope="session")
def virtual() -> Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]:
    """``virtual(main)`` runs the coroutine ``main()`` on virtual time and returns its result
    (a function, so one for the session, hypothesis's examples included)."""
    return run_virtual


class LoopClock:
    """A ``mock_models.sim.clock.Clock`` on the running loop's own time: exact on a
    ``VirtualTimeLoop``, whose ``advance`` then stands for a busy mock."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()

    def now_s(self) -> float:
        return self.loop.time()

    async def sleep_until(self, deadline_s: float, early_s: float = 0.0) -> None:
        delay_s = deadline_s - self.loop.time()
        while delay_s > early_s:
            await asyncio.sleep(delay_s)
            delay_s = deadline_s - self.loop.time()

    def call_at(self, deadline_s: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return self.loop.call_at(deadline_s, callback)

    def advance(self, seconds: float) -> None:
        """Hold the loop for ``seconds`` (a slow write, a stall)."""
        loop = self.loop
        assert isinstance(loop, VirtualTimeLoop), "advance needs the virtual loop"
        loop.advance(seconds)


@pytest.fixture(scope="session")
def loop_clock() -> type[LoopClock]:
    """The ``LoopClock`` class (make one inside the loop it reads)."""
    return LoopClock
