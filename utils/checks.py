"""Argument checks shared by the `utils` modules, so bad input fails early with a clear message."""

from __future__ import annotations

import numpy as np


def integer_at_least(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int when it is an integer >= ``minimum`` (not a bool); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
