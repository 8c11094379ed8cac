"""Activations: the registry, their Gaussian moments and rho(sigma), and dual kernels.

>>> import landscope as ls
>>> round(ls.activations.rho("relu", 3.0), 6)   # 1/4 - 1/(2 pi) at every sigma
0.090845
"""

from ._arccos import ArcCosPairs, arccos_pairs, relu
from .moments import (
    ActivationReport,
    alpha,
    alphas,
    gaussian_expectation,
    hermite,
    hermite_orders,
    properties,
    report,
    reports,
    rho,
    rho_terms,
)
from .registry import Activation, get, is_odd, names, register, unregister

__all__ = [
    "Activation",
    "ActivationReport",
    "ArcCosPairs",
    "alpha",
    "alphas",
    "arccos_pairs",
    "gaussian_expectation",
    "get",
    "hermite",
    "hermite_orders",
    "is_odd",
    "names",
    "properties",
    "register",
    "relu",
    "report",
    "reports",
    "rho",
    "rho_terms",
    "unregister",
]
