"""Budget files: a TOML text in, a validated ``Budget`` (checks and validity limits) out.

::

    [thresholds]                       # absolute limits
    "ttft_ms" = ["p(99) < 800", "p(50) < 300"]
    "e2e_ms{model=mock-large}" = ["p(99) < 4s"]
    "error_rate{fault=none}" = [{ threshold = "rate < 1%", strict = false }]
    "ttft_ms{tenant=acme}" = [{ threshold = "p(99) < 800", abort_on_fail = true,
                                delay_abort_eval = "10s", abort_min_samples = 200 }]
    [regression]                       # against the run given with --baseline
    "ttft_ms" = ["p(99) <= baseline * 1.10 + 25"]
    [sweep]                            # a sweep directory's answer (tokenstorm sweep)
    "max_rate_meeting_slo" = ["value >= 40"]
    [baseline]                         # what the baseline must share, else inconclusive
    require_same = ["plan", "seed", "target_model"]
    [validity]                         # any breach makes the run inconclusive, never pass
    max_schedule_lag_p99_ms = 10
    max_dropped_requests = 0
    max_client_cpu_share = 0.9
    max_upstream_lag_p99_ms = 5        # a tokenstorm mock upstream that fell behind
    min_samples = 1

Keys are summary metric names with optional ``{tag=value,...}`` filters (``!=`` excludes;
k6's ``tag:value`` is accepted too). Every mistake raises ``BudgetError`` whose message is one
line naming the file, the section and key, and the bad expression or field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract.quantities import parse_duration_s
from harness.gates.abortable import abort_problem
from harness.gates.catalog import (
    CatalogError,
    MetricInfo,
    check_expression,
    metric_info,
    sweep_metric_info,
)
from harness.gates.expression import Expression, ExpressionError, parse_expression
from harness.stats.sameness import DEFAULT_REQUIRE_SAME
from harness.stats.slices import TagFilter

SECTIONS = ("thresholds", "regression", "validity", "baseline", "sweep")
_ENTRY_FIELDS = (
    "threshold",
    "strict",
    "over",
    "abort_on_fail",
    "abort_min_samples",
    "delay_abort_eval",
)
_KEY = re.compile(r"^\s*([a-z0-9_]+)\s*(?:\{(.*)\})?\s*$")
_FILTER = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(!=|!:|=|:)\s*(.+?)\s*$")


class BudgetError(ValueError):
    """A budget file is unusable; ``str()`` is one line naming file, key and expression."""


@dataclass(frozen=True, slots=True)
class MetricKey:
    name: str
    filters: tuple[TagFilter, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """One expression on one metric key, from ``[thresholds]`` or ``[regression]``."""

    section: str
    key: MetricKey
    info: MetricInfo
    expression: Expression
    text: str
    strict: bool = True
    #: Sustained window: fail only when every window of this length breaches.
    over_s: float | None = None
    #: Stop the run as soon as the live figures show this check failed (k6's abortOnFail).
    abort_on_fail: bool = False
    #: A live rate or latency is judged only once it rests on this many samples (None: the
    #: default of ``harness.gates.live.min_samples``).
    abort_min_samples: int | None = None
    #: No abort judgement before this much of the run has passed (k6's delayAbortEval).
    abort_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Budget:
    source: str
    checks: tuple[Check, ...]
    #: Validity limits the budget sets; the others are the run's own (summary ``validity_limits``).
    limits: Mapping[str, float] = field(default_factory=dict)
    min_samples: int = 1
    #: Fields the --baseline run must share with the run (``harness.stats.sameness``).
    require_same: tuple[str, ...] = DEFAULT_REQUIRE_SAME


def parse_metric_key(text: str) -> MetricKey:
    """``e2e_ms{model=mock-large,tenant!=acme}`` → name and filters (``ValueError`` if bad)."""
    match = _KEY.match(text)
    if match is None:
        raise ValueError("a key is a metric name with optional {tag=value,...} filters")
    filters: list[TagFilter] = []
    if match.group(2) is not None:
        for part in match.group(2).split(","):
            found = _FILTER.match(part)
            if found is None:
                raise ValueError(f"filter {part.strip()!r} is not tag=value or tag!=value")
            tag, op, value = found.groups()
            filters.append(TagFilter(tag, value.strip("\"'"), negate=op in ("!=", "!:")))
    return MetricKey(match.group(1), tuple(filters), text)


def _entry(where: str, raw: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(raw, str):
        return raw, {}
    if not isinstance(raw, dict):
        raise BudgetError(f"{where}: {raw!r} is neither an expression string nor a table")
    unknown = sorted(set(raw) - set(_ENTRY_FIELDS))
    if unknown:
        raise BudgetError(
            f"{where}: unknown field {unknown[0]!r}; allowed: " + ", ".join(_ENTRY_FIELDS)
        )
    text = raw.get("threshold")
    if not isinstance(text, str):
        raise BudgetError(f'{where}: a table entry needs threshold = "EXPRESSION"')
    return text, raw


def _options(where: str, options: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in ("strict", "abort_on_fail"):
        if name in options:
            if not isinstance(options[name], bool):
                raise BudgetError(f"{where}: {name} must be true or false")
            result[name] = options[name]
    if "abort_min_samples" in options:
        raw = options["abort_min_samples"]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise BudgetError(f"{where}: abort_min_samples must be a whole number >= 1")
        result["abort_min_samples"] = raw
    if "delay_abort_eval" in options:
        try:
            result["abort_delay_s"] = parse_duration_s(options["delay_abort_eval"])
        except ValueError as exc:
            raise BudgetError(f"{where}: delay_abort_eval: {exc}") from None
    if "over" in options:
        try:
            result["over_s"] = parse_duration_s(options["over"])
        except ValueError as exc:
            raise BudgetError(f"{where}: over: {exc}") from None
        if result["over_s"] <= 0:
            raise BudgetError(f"{where}: over must be a positive duration like '30s'")
    return result


def _checks(source: str, section: str, table: Any) -> list[Check]:
    if not isinstance(table, dict):
        raise BudgetError(f'{source}: [{section}] must be a table of "metric" = [expressions]')
    checks: list[Check] = []
    for key_text, entries in table.items():
        where = f'{source}: [{section}] "{key_text}"'
        try:
            key = parse_metric_key(key_text)
            info = sweep_metric_info(key.name) if section == "sweep" else metric_info(key.name)
        except (ValueError, CatalogError) as exc:
            raise BudgetError(f"{where}: {exc}") from None
        if section == "sweep" and key.filters:
            raise BudgetError(f"{where}: a sweep's figures take no {{tag=value}} filters")
        for raw in entries if isinstance(entries, list) else [entries]:
            text, options = _entry(where, raw)
            try:
                expression = parse_expression(text)
            except ExpressionError as exc:
                raise BudgetError(f"{where}: {exc}") from None  # the message quotes the text
            try:
                check_expression(info, expression)
            except CatalogError as exc:
                raise BudgetError(f"{where}: {text!r}: {exc}") from None
            if section == "thresholds" and expression.uses_baseline:
                raise BudgetError(f"{where}: {text!r}: 'baseline' belongs in [regression]")
            if section == "regression" and not expression.uses_baseline:
                raise BudgetError(
                    f"{where}: {text!r}: a regression compares with 'baseline' "
                    "(absolute limits belong in [thresholds])"
                )
            extra = _options(where, options)
            if section == "regression" and "over_s" in extra:
                raise BudgetError(f"{where}: {text!r}: over applies to [thresholds] only")
            if extra.get("abort_on_fail"):
                problem = abort_problem(
                    section,
                    info.name,
                    [f.tag for f in key.filters],
                    expression,
                    "over_s" in extra,
                    extra.get("strict", True),
                )
                if problem is not None:
                    raise BudgetError(f"{where}: {text!r}: {problem}")
            checks.append(Check(section, key, info, expression, text, **extra))
    return checks


def _validity(source: str, table: Any) -> tuple[dict[str, float], int]:
    if not isinstance(table, dict):
        raise BudgetError(f"{source}: [validity] must be a table")
    allowed = {
        "max_schedule_lag_p99_ms": float,
        "max_dropped_requests": int,
        "max_client_cpu_share": float,
        "max_upstream_lag_p99_ms": float,
        "min_samples": int,
    }
    values: dict[str, Any] = {}
    for name, raw in table.items():
        if name not in allowed:
            raise BudgetError(
                f"{source}: [validity] {name}: unknown field; allowed: " + ", ".join(allowed)
            )
        if (
            isinstance(raw, bool)
            or not isinstance(raw, int | float)
            or raw < 0
            or (allowed[name] is int and not isinstance(raw, int))
        ):
            kind = "a whole number" if allowed[name] is int else "a number"
            raise BudgetError(f"{source}: [validity] {name}: {raw!r} must be {kind} >= 0")
        values[name] = allowed[name](raw)
    min_samples = int(values.pop("min_samples", 1))
    return values, min_samples


def _require_same(source: str, table: Any) -> tuple[str, ...]:
    where = f"{source}: [baseline]"
    if not isinstance(table, dict):
        raise BudgetError(f"{where} must be a table")
    unknown = sorted(set(table) - {"require_same"})
    if unknown:
        raise BudgetError(f"{where} {unknown[0]}: unknown field; allowed: require_same")
    names = table.get("require_same", list(DEFAULT_REQUIRE_SAME))
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise BudgetError(
            f'{where} require_same: give a list of field names, e.g. ["plan", "seed"]'
        )
    return tuple(n.strip() for n in names)


def parse_budget(text: str, source: str = "<budget>") -> Budget:
    """Validate a budget given as TOML text; ``source`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BudgetError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise BudgetError(
            f"{source}: unknown section [{unknown[0]}]; allowed: "
            + ", ".join(f"[{s}]" for s in SECTIONS)
        )
    checks = [
        check
        for section in ("thresholds", "regression", "sweep")
        for check in _checks(source, section, data.get(section, {}))
    ]
    if not checks:
        raise BudgetError(
            f"{source}: no [thresholds], [regression] or [sweep] entry: nothing to gate"
        )
    limits, min_samples = _validity(source, data.get("validity", {}))
    require_same = _require_same(source, data.get("baseline", {}))
    return Budget(source, tuple(checks), limits, min_samples, require_same)


def load_budget(path: Path) -> Budget:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BudgetError(f"{path}: no such budget file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetError(f"{path}: cannot read budget file ({exc})") from None
    return parse_budget(text, str(path))
