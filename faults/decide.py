"""Which fault hits this attempt: a profile (or a forcing header), the attempt's context and a
uniform draw in; a ``FaultChoice`` or ``None`` out. Pure: the caller owns clock and RNG."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from faults.catalogue import COMMON_PARAMS, FaultKind, applies, resolve_params
from faults.profile import FaultProfile

#: Header that forces a fault on one attempt, like Envoy's x-envoy-fault-* headers.
FAULT_HEADER = "x-tokenstorm-fault"


@dataclass(frozen=True, slots=True)
class AttemptContext:
    t_s: float
    deployment: str
    model: str
    api: str
    stream: bool
    #: 1 for the first attempt of a request (from x-tokenstorm-attempt or the SDK's retry
    #: count); None when unknown, which "first N attempts" rules treat as a first attempt.
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class FaultChoice:
    kind: FaultKind
    params: Mapping[str, float] = field(default_factory=dict)
    source: str = "profile"  # "profile" or "header"
    rule_index: int | None = None


def _attempt_allowed(first_attempts: int | None, attempt: int | None) -> bool:
    return first_attempts is None or (attempt or 1) <= first_attempts


def choose(profile: FaultProfile, context: AttemptContext, u: float) -> FaultChoice | None:
    """Rules in order share the unit interval: rule i owns a slice as wide as its effective
    probability, so a draw ``u`` in [0, 1) picks at most one fault (shares capped at 1).
    Rules whose kind means nothing for the attempt's flavour (``catalogue.applies``) take no
    slice."""
    edge = 0.0
    for index, rule in enumerate(profile.rule):
        if not rule.targets.match(context.deployment, context.model, context.api, context.stream):
            continue
        if not _attempt_allowed(rule.first_attempts, context.attempt):
            continue
        if not applies(rule.kind, context.api):
            continue
        share = rule.probability * rule.window.weight(context.t_s)
        if share <= 0:
            continue
        edge = min(1.0, edge + share)
        if u < edge:
            return FaultChoice(rule.kind, rule.resolved_params(), "profile", index)
        if edge >= 1.0:
            break
    return None


def split_fault_spec(value: str, label: str = FAULT_HEADER) -> tuple[FaultKind, dict[str, float]]:
    """``"cut; after_tokens=5"`` → (kind, {name: number}): the grammar the header and the
    ``--fault`` flag share, names unchecked. ``ValueError`` names ``label`` and the fix."""
    parts = [p.strip() for p in value.split(";") if p.strip()]
    if not parts:
        raise ValueError(f"{label} is empty; write 'KIND; param=value; ...'")
    try:
        kind = FaultKind(parts[0])
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"{label}: unknown fault kind {parts[0]!r} (known: {known})") from None
    given: dict[str, float] = {}
    for part in parts[1:]:
        name, sep, raw = part.partition("=")
        try:
            if not sep:
                raise ValueError
            given[name.strip()] = float(raw)
        except ValueError:
            raise ValueError(f"{label}: {part!r} is not 'param=number'") from None
    return kind, given


def parse_fault_header(value: str) -> tuple[FaultChoice, int | None]:
    """``"cut; after_tokens=5; first_attempts=2"`` → (choice, first_attempts).

    Raises ``ValueError`` with a message fit for a 400 answer.
    """
    kind, given = split_fault_spec(value)
    params = resolve_params(kind, given)
    first = given.get("first_attempts")
    if first is not None and (first < 1 or first != int(first)):
        raise ValueError(f"{FAULT_HEADER}: first_attempts must be a whole number >= 1")
    return FaultChoice(kind, params, "header"), None if first is None else int(first)


def forced(header: str | None, attempt: int | None) -> FaultChoice | None:
    """The fault a request's header forces on this attempt (None when it does not)."""
    if not header:
        return None
    choice, first_attempts = parse_fault_header(header)
    return choice if _attempt_allowed(first_attempts, attempt) else None


def attempt_draw(seed: int, request_id: str, attempt: int | None) -> float:
    """A uniform draw in [0, 1) fixed by (seed, request id, attempt): the same request and
    attempt meet the same fault on every rerun, whatever else is in flight."""
    digest = hashlib.blake2b(
        f"{seed}\x1f{request_id}\x1f{attempt or 1}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def attempt_number(headers: Mapping[str, str]) -> int | None:
    """1-based attempt from ``x-tokenstorm-attempt``, else the Stainless SDKs' retry count."""
    for name, offset in (("x-tokenstorm-attempt", 0), ("x-stainless-retry-count", 1)):
        raw = headers.get(name)
        if raw is not None:
            try:
                return int(raw) + offset
            except ValueError:
                continue
    return None


__all__ = [
    "COMMON_PARAMS",
    "FAULT_HEADER",
    "AttemptContext",
    "FaultChoice",
    "attempt_draw",
    "attempt_number",
    "choose",
    "forced",
    "parse_fault_header",
    "split_fault_spec",
]
