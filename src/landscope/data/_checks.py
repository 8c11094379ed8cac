"""Argument checks shared by the data loaders: one sentence naming the bad value."""

from __future__ import annotations

import numpy as np

__all__ = ["positive_int"]


def positive_int(name: str, value: object) -> int:
    """``value`` as an int; ValueError unless it is an integer >= 1 (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)
