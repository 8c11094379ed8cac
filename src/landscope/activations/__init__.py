"""Activations: the registry, their Gaussian moments and rho(sigma), and dual kernels.

The Gaussian math itself lives in ``landscope.gaussian`` and works on callables; the
functions here take a registered name (``"relu"``, ``"softplus:4"``, ...) or an
``Activation`` and pass on its phi, phi', phi'' and kinks.

>>> import landscope as ls
>>> round(ls.activations.rho("relu", 3.0), 6)   # 1/4 - 1/(2 pi) at every sigma
0.090845
"""

from ..gaussian.arccos import ArcCosPairs, arccos_pairs
from .dual import closed_form_name, dual_expectations
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
from .population import LocalConvexity, local_convexity, pair_moment, population_hessian
from .registry import Activation, get, is_odd, names, register, relu, unregister
from .table import (
    REFERENCE_V,
    REFERENCE_W,
    ActivationRow,
    ActivationTable,
    activation_table,
    reference_teacher,
)

__all__ = [
    "REFERENCE_V",
    "REFERENCE_W",
    "Activation",
    "ActivationReport",
    "ActivationRow",
    "ActivationTable",
    "ArcCosPairs",
    "LocalConvexity",
    "activation_table",
    "alpha",
    "alphas",
    "arccos_pairs",
    "closed_form_name",
    "dual_expectations",
    "gaussian_expectation",
    "get",
    "hermite",
    "hermite_orders",
    "is_odd",
    "local_convexity",
    "names",
    "pair_moment",
    "population_hessian",
    "properties",
    "reference_teacher",
    "register",
    "relu",
    "report",
    "reports",
    "rho",
    "rho_terms",
    "unregister",
]
