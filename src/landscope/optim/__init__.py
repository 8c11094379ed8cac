"""Batched optimizers over (R, P) rows (GD, Adam, L-BFGS, Levenberg-Marquardt), a per-row
stopping rule, and Newton polishing."""

from .armijo import gd_armijo
from .lbfgs import lbfgs
from .lm import levenberg_marquardt
from .minimize import STATUS, MinimizeResult, minimize
from .newton import PolishResult, newton_polish
from .transforms import GD, Adam, Optimizer

__all__ = [
    "gd_armijo",
    "GD",
    "STATUS",
    "Adam",
    "MinimizeResult",
    "lbfgs",
    "levenberg_marquardt",
    "Optimizer",
    "PolishResult",
    "minimize",
    "newton_polish",
]
