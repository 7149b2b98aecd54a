"""Tool calls of the mock: the request's tools and tool choice and a uniform draw in; the tool
the answer calls (or None) out, and the argument text a call's tokens spell.

Pure. A call's arguments are ``{"query": "<the answer's words>"}``, so each generated token
is one fragment of that JSON (its word and a space) and streamed deltas concatenate into it.
"""

from __future__ import annotations

from typing import Final

from mock_models.flavour import ParsedRequest, text_of

#: What the arguments start and end with around the words.
ARGUMENTS_OPEN: Final = '{"query": "'
ARGUMENTS_CLOSE: Final = '"}'


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


def arguments_text(words: list[int]) -> str:
    """The whole arguments JSON of a call whose tokens are ``words``."""
    return ARGUMENTS_OPEN + text_of(words) + ARGUMENTS_CLOSE
