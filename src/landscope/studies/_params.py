"""``Param`` declarations that several studies share: the same name, help and check.

Each takes the study's default (and, where the help names it, the training method), so
a study's ``PARAMS`` keeps its own order and values while the wording of the common
protocol constants is written once.
"""

from __future__ import annotations

from ._checks import at_least, positive
from ._study import Param

__all__ = ["grad_tol", "iso_tol", "max_steps", "polish_from", "polish_tol", "rel_gap_tol"]


def grad_tol(default: float, method: str) -> Param:
    """``grad_tol``: ``method`` stops at ||grad|| <= grad_tol (a positive float)."""
    help_ = f"{method} stops at ||grad|| <= grad_tol"
    return Param("grad_tol", float, (default,), help_, positive("grad_tol"))


def iso_tol(default: float = 1e-6) -> Param:
    """``iso_tol``: isotropy groups count entries equal within iso_tol x max(1, max|W|)."""
    help_ = "isotropy: entries equal within iso_tol x max(1, max|W|)"
    return Param("iso_tol", float, (default,), help_, positive("iso_tol"))


def max_steps(default: int, help_: str) -> Param:
    """``max_steps``: the training budget per run (an integer >= 1)."""
    return Param("max_steps", int, (default,), help_, at_least("max_steps", 1))


def polish_from(default: float = 1e-4) -> Param:
    """``polish_from``: rows with ||grad|| <= polish_from are Newton-polished."""
    help_ = "Newton-polish rows with ||grad|| <= polish_from"
    return Param("polish_from", float, (default,), help_, positive("polish_from"))


def polish_tol(default: float = 1e-12) -> Param:
    """``polish_tol``: Newton polishes to ||grad|| <= polish_tol."""
    help_ = "Newton polishes to ||grad|| <= polish_tol"
    return Param("polish_tol", float, (default,), help_, positive("polish_tol"))


def rel_gap_tol(gap: str, default: float = 1e-8) -> Param:
    """``rel_gap_tol``: a row reached the global value when ``gap`` <= rel_gap_tol."""
    help_ = f"reached_global: {gap} <= rel_gap_tol"
    return Param("rel_gap_tol", float, (default,), help_, positive("rel_gap_tol"))
