"""Is a stream a terminal? Asked of stdin, stdout and stderr in many places, answered once here."""

from __future__ import annotations

import sys
from typing import Any


def isatty(stream: Any) -> bool:
    """True for a terminal; False for a pipe, a file, a closed or replaced stream, or None."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def stdout_is_tty() -> bool:
    return isatty(sys.stdout)
