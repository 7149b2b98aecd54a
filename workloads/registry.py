"""The session-builder registry: workload ``kind`` in, the function that plans one session of
that kind out; builders add themselves with the ``register`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from harness.records import PlannedRequest
from workloads.session import SessionContext

#: A builder takes the workload's validated config, the session context and the session's
#: own RNG, and returns that session's planned requests in turn order.
SessionBuilder = Callable[[Any, SessionContext, np.random.Generator], list[PlannedRequest]]

_BuilderT = TypeVar("_BuilderT", bound=SessionBuilder)
_BUILDERS: dict[str, SessionBuilder] = {}


def register(kind: str) -> Callable[[_BuilderT], _BuilderT]:
    """Decorator: make ``function`` the session builder for workload ``kind``."""

    def add(function: _BuilderT) -> _BuilderT:
        if kind in _BUILDERS:
            raise ValueError(f"workload kind {kind!r} already has a session builder")
        _BUILDERS[kind] = function
        return function

    return add


def builder_for(kind: str) -> SessionBuilder:
    """The session builder of ``kind``; ``KeyError`` naming the known kinds otherwise."""
    try:
        return _BUILDERS[kind]
    except KeyError:
        known = ", ".join(sorted(_BUILDERS)) or "none"
        raise KeyError(f"no session builder for workload kind {kind!r} (known: {known})") from None


def registered_kinds() -> tuple[str, ...]:
    """The workload kinds that have a builder, sorted."""
    return tuple(sorted(_BUILDERS))
