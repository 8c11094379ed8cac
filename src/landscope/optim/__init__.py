"""Batched optimizers over (R, P) rows, a per-row stopping rule, and Newton polishing."""

from .lbfgs import lbfgs
from .minimize import STATUS, MinimizeResult, minimize
from .newton import PolishResult, newton_polish
from .transforms import GD, Adam, Optimizer

__all__ = [
    "GD",
    "STATUS",
    "Adam",
    "MinimizeResult",
    "lbfgs",
    "Optimizer",
    "PolishResult",
    "minimize",
    "newton_polish",
]
