"""Trace replay: a recorded trace file and a ``[trace]`` section in, one planned request per
row out (``load_trace`` parses, ``replay_trace`` plans); formats are registered by name."""

from workloads.traces.formats import detect_format, load_trace, parse_trace, trace_formats
from workloads.traces.replay import replay_trace, trace_span_s
from workloads.traces.rows import TraceError, TraceRow

__all__ = [
    "TraceError",
    "TraceRow",
    "detect_format",
    "load_trace",
    "parse_trace",
    "replay_trace",
    "trace_formats",
    "trace_span_s",
]
