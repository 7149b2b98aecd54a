"""Workload planning: a validated scenario in, a deterministic plan of requests out, plus
its preview; the engine consumes the plan and never imports this package."""

from workloads.arrivals import arrival_processes, session_offsets_s
from workloads.distributions import int_floor, sample_duration_s, sample_float, sample_int
from workloads.kinds import KINDS, WORKLOAD_KINDS, SessionBuilder, builder_for
from workloads.planner import build_plan
from workloads.preview import PlanPreview, preview, render_svg, render_text, sparkline
from workloads.session import SessionContext, Turn
from workloads.session_mix import DEFAULT_MODEL, choose_workloads, workload_tags

__all__ = [
    "DEFAULT_MODEL",
    "KINDS",
    "WORKLOAD_KINDS",
    "PlanPreview",
    "SessionBuilder",
    "SessionContext",
    "Turn",
    "arrival_processes",
    "build_plan",
    "builder_for",
    "choose_workloads",
    "int_floor",
    "preview",
    "render_svg",
    "render_text",
    "sample_duration_s",
    "sample_float",
    "sample_int",
    "session_offsets_s",
    "sparkline",
    "workload_tags",
]
