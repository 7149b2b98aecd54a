"""``--fault 'KIND; p=P; ...'`` (repeatable) for ``mock``, ``proxy`` and ``run``: the flag and
the profile it yields (``faults.quick``). Light on purpose: ``run`` imports it before it runs,
and must not load the mock's server to do so."""

from __future__ import annotations

import argparse

from faults.profile import FaultProfile, ProfileError
from faults.quick import with_flags
from harness.cli.errors import UserError


def add_fault_flag(parser: argparse.ArgumentParser) -> None:
    """``--fault`` (repeatable), shared by ``mock``, ``proxy`` and ``run``."""
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="'KIND; p=P; ...'",
        help="add a fault rule, in the x-tokenstorm-fault header's grammar plus p, start, "
        "end, ramp (e.g. 'http_429; p=0.3; retry_after_s=1'); repeatable, after --faults",
    )


def add_fault_rules(base: FaultProfile | None, args: argparse.Namespace) -> FaultProfile | None:
    """``base`` with the ``--fault`` rules after its own; a bad one is a one-line error."""
    try:
        return with_flags(base, getattr(args, "fault", None) or [])
    except ProfileError as exc:
        raise UserError(str(exc)) from None
