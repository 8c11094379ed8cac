"""Checks of single parameter values, shared by the studies' ``Param`` declarations.

Each returns a function that raises ValueError (one sentence naming the parameter) for a
value that is not allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["at_least", "between", "one_of", "positive"]


def at_least(name: str, lo: float) -> Callable[[Any], None]:
    """The value must be a finite number >= lo."""

    def check(v: float) -> None:
        if not (math.isfinite(v) and v >= lo):
            raise ValueError(f"{name} must be >= {lo}, got {v!r}.")

    return check


def positive(name: str) -> Callable[[Any], None]:
    """The value must be a finite number > 0."""

    def check(v: float) -> None:
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}.")

    return check


def one_of(name: str, allowed: Sequence[str]) -> Callable[[Any], None]:
    """The value must be one of ``allowed``."""

    def check(v: str) -> None:
        if v not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {v!r}.")

    return check


def between(name: str, lo: float, hi: float, *, include_hi: bool = False) -> Callable[[Any], None]:
    """The value must be a finite number in (lo, hi), or (lo, hi] with ``include_hi``."""
    close = "]" if include_hi else ")"

    def check(v: float) -> None:
        inside = lo < v <= hi if include_hi else lo < v < hi
        if not (math.isfinite(v) and inside):
            raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}{close}, got {v!r}.")

    return check
