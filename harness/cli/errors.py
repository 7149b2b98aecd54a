"""The one way a CLI verb reports a user mistake: a single line on stderr and exit code 2."""

from __future__ import annotations

import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake the user can fix; ``str()`` is the whole message."""


def fail(message: str) -> int:
    sys.stderr.write(f"tokenstorm: error: {message}\n")
    return EXIT_USAGE
