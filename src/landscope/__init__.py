"""landscope: the optimization landscape of neural networks, by experiment."""

from importlib.metadata import PackageNotFoundError, version

from .convex import lifted_least_squares, network_from_matrix
from .critical import Certificate, Tolerances, certify
from .optim import GD, Adam, lbfgs, levenberg_marquardt, minimize, newton_polish
from .problems import (
    DeepQuadraticNet,
    EmpiricalTeacherStudent,
    ModuleLoss,
    Problem,
    QuadraticNet,
    QuadraticPopulation,
    ReluTeacherStudent,
    init_from_seeds,
)

try:
    __version__ = version("landscope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
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
