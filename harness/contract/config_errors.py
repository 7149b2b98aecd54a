"""One line for a configuration mistake: a pydantic ``ValidationError`` and its source in, a
message naming the file, the field and the fix out.

Every file or flag tokenstorm validates (scenario, mock settings, fault profiles, budgets,
the pytest plugin's marker, admin request bodies) words its errors through this one function,
so a user meets the same shape everywhere: ``SOURCE: FIELD: WHAT IS WRONG (and N more)``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pydantic import ValidationError

#: Messages for pydantic's error types whose own wording does not say what to do.
_PLAIN: dict[str, str] = {
    "extra_forbidden": "unknown field (check its spelling against the documented keys)",
    "missing": "missing required field",
}


def field_path(loc: Sequence[int | str], hidden: Collection[str] = ()) -> str:
    """``workload[0].turns.mean`` from pydantic's location tuple.

    List indices become ``[i]``. Parts that are not field names (a tagged union's tag, a
    validator's name such as ``function-after[...]``) are left out, as are ``hidden`` ones.
    """
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in hidden or item.startswith("function-") or "[" in item:
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def describe_validation_error(
    source: str,
    exc: ValidationError,
    *,
    prefix: Sequence[int | str] = (),
    hidden: Collection[str] = (),
    enum_noun: str = "value",
) -> str:
    """One line for the first error of ``exc`` (and a count of the others).

    ``prefix`` is put before each location (the table the validated object sits in),
    ``hidden`` names location parts to leave out (a union's tags), and ``enum_noun`` says
    what a value outside an enumeration is (``unknown fault kind; Input should be ...``).
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = field_path((*prefix, *first["loc"]), hidden)
    message = _PLAIN.get(first["type"]) or str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "enum":
        message = f"unknown {enum_noun}; {message}"
    elif first["type"] == "union_tag_invalid":
        ctx = first.get("ctx") or {}
        tag = str(ctx.get("discriminator", "kind")).strip("'")
        message = f"{tag} must be one of {ctx.get('expected_tags', '')}".rstrip()
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {where}: {message}{more}"
