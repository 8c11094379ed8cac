"""landscope: the optimization landscape of neural networks, by experiment."""

from importlib.metadata import PackageNotFoundError, version

from . import activations
from .convex import lifted_least_squares, network_from_matrix
from .critical import Certificate, Tolerances, certify
from .init import TensorInit, align_signs, tensor_init
from .optim import GD, Adam, gd_armijo, lbfgs, levenberg_marquardt, minimize, newton_polish
from .problems import (
    DeepQuadraticNet,
    EmpiricalTeacherStudent,
    LocalConvexity,
    ModuleLoss,
    OneHiddenRegression,
    Planted,
    Problem,
    QuadraticNet,
    QuadraticPopulation,
    ReluTeacherStudent,
    init_from_seeds,
    local_convexity,
    planted,
    population_hessian,
    recovery_error,
)

try:
    __version__ = version("landscope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "LocalConvexity",
    "OneHiddenRegression",
    "Planted",
    "TensorInit",
    "activations",
    "align_signs",
    "gd_armijo",
    "local_convexity",
    "planted",
    "population_hessian",
    "recovery_error",
    "tensor_init",
    "GD",
    "Adam",
    "Certificate",
    "DeepQuadraticNet",
    "EmpiricalTeacherStudent",
    "ModuleLoss",
    "Problem",
    "QuadraticNet",
    "QuadraticPopulation",
    "ReluTeacherStudent",
    "Tolerances",
    "__version__",
    "certify",
    "init_from_seeds",
    "lbfgs",
    "levenberg_marquardt",
    "lifted_least_squares",
    "minimize",
    "network_from_matrix",
    "newton_polish",
]
