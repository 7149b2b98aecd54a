"""``--fault "KIND; p=0.3; param=value; ..."``: a profile rule written on the command line, in
the ``x-tokenstorm-fault`` header's grammar (``faults.decide.split_fault_spec``) plus the keys
only a rule has: ``p`` (or ``probability``, default 1), a window's ``start``, ``end`` and
``ramp`` in seconds on the run clock, and ``first_attempts``. Every other name is one of the
kind's parameters (``docs/faults.md``). Repeated flags add rules in order, after any profile's.
Pure: text in, a validated ``Rule`` or ``FaultProfile`` out, ``ProfileError`` (one line) on a
mistake."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from faults.decide import split_fault_spec
from faults.profile import FaultProfile, ProfileError, Rule

FLAG = "--fault"
_WINDOW_KEYS = ("start", "end", "ramp")


def rule_from_flag(value: str) -> Rule:
    """One ``--fault`` value as a profile rule."""
    label = f"{FLAG} {value!r}"
    try:
        kind, given = split_fault_spec(value, label)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None
    if "p" in given and "probability" in given:
        raise ProfileError(f"{label}: give p or probability, not both")
    probability = given.pop("p", given.pop("probability", 1.0))
    window = {key: given.pop(key) for key in _WINDOW_KEYS if key in given}
    first = given.pop("first_attempts", None)
    rule: dict[str, Any] = {"kind": kind, "probability": probability, "params": given}
    if window:
        rule["window"] = window
    if first is not None:
        if first < 1 or first != int(first):
            raise ProfileError(f"{label}: first_attempts must be a whole number >= 1")
        rule["first_attempts"] = int(first)
    try:
        return Rule.model_validate(rule)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if where in ("probability", ""):
            message = message.replace("Input should be", "p should be")
        prefix = f"{where}: " if where and where != "probability" else ""
        raise ProfileError(f"{label}: {prefix}{message}") from None


def with_flags(base: FaultProfile | None, values: Sequence[str]) -> FaultProfile | None:
    """``base`` (None: no faults) with one rule per ``--fault`` value after its own rules;
    ``base`` itself when there are none."""
    if not values:
        return base
    rules = tuple(rule_from_flag(value) for value in values)
    if base is None:
        return FaultProfile(name="command-line", rule=rules)
    return FaultProfile(
        name=f"{base.name}+command-line", description=base.description, rule=base.rule + rules
    )
