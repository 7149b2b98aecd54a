"""Faults that act on a deployment as a whole rather than on one attempt: a profile, a
deployment (name and model) and a run-clock time in; whether its own listener refuses
connections (``down``) and whether its readiness endpoint says down (``flap``), out.

Pure: the caller reads the clock. An attempt-level draw (``faults.decide.choose``) still
applies the same rules to attempts that reach the deployment some other way (the shared
listener, a keep-alive connection opened before the window).
"""

from __future__ import annotations

from faults.catalogue import FaultKind
from faults.profile import FaultProfile, Rule


def _holds(rule: Rule, deployment: str | None, model: str | None, t_s: float) -> bool:
    """The rule is active at ``t_s`` and aims at the deployment as a whole.

    ``deployment`` None asks about the server as a whole: only rules aimed at every
    deployment count. Rules narrowed to API flavours or streaming cannot act before a request
    is read, so they never hold here.
    """
    targets = rule.targets
    if targets.apis or targets.stream is not None:
        return False
    if rule.probability <= 0 or rule.window.weight(t_s) <= 0:
        return False
    if deployment is None:
        return not targets.deployments and not targets.models
    return (not targets.deployments or deployment in targets.deployments) and (
        not targets.models or model in targets.models
    )


def refusing(profile: FaultProfile, deployment: str, model: str, t_s: float) -> bool:
    """True while a ``down`` rule holds the deployment: its own listener is closed for the
    whole window (probability and ramp only shape the per-attempt resets elsewhere)."""
    return any(
        rule.kind is FaultKind.DOWN and _holds(rule, deployment, model, t_s)
        for rule in profile.rule
    )


def flapping_down(
    profile: FaultProfile, deployment: str | None, model: str | None, t_s: float
) -> bool:
    """True in the down half of each period of a ``flap`` rule holding the deployment (the
    server as a whole when ``deployment`` is None), counted from the window's start."""
    for rule in profile.rule:
        if rule.kind is not FaultKind.FLAP or not _holds(rule, deployment, model, t_s):
            continue
        half_s = max(rule.resolved_params()["period_s"] / 2.0, 1e-3)
        if int((t_s - rule.window.start) / half_s) % 2 == 1:
            return True
    return False
