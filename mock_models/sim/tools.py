"""Tool calls of the mock: the request's tools and tool choice and a uniform draw in; the tool
the answer calls (or None) out.

Pure. A call's arguments are the answer's words (``harness.api.rendering.arguments_text``), so
each generated token is one fragment of that JSON and streamed deltas concatenate into it.
"""

from __future__ import annotations

from harness.api.requests import ParsedRequest


def choose_tool(request: ParsedRequest, u: float, auto_share: float) -> str | None:
    """The tool to call: the named one, the first when a call is required, under "auto" the
    first with probability ``auto_share`` (``u`` uniform in [0, 1)), else None."""
    if not request.tools or request.tool_choice == "none":
        return None
    if request.tool_choice.startswith("tool:"):
        return request.tool_choice.removeprefix("tool:")
    if request.tool_choice == "required" or u < auto_share:
        return request.tools[0]
    return None
