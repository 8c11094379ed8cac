"""landscope: the optimization landscape of neural networks, by experiment."""

from importlib.metadata import PackageNotFoundError, version

from . import activations, connect, symmetry
from .convex import lifted_least_squares, network_from_matrix
from .critical import Certificate, Tolerances, certify
from .init import TensorInit, align_signs, tensor_init
from .kernels import empirical_ntk, lambda_0, ntk_gram
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
from .spectrum import dense_spectrum, extremal_eigs, slq, trace
from .symmetry import Isotropy, canonical_form, group_types, same_orbit


def isotropy(problem_or_W, W=None, *, tol: float = 1e-6) -> Isotropy:
    """The isotropy group of a point: ``isotropy(prob, W)`` under the group the problem
    declares (``prob.symmetry``), or ``isotropy(W)`` under S_n x S_d. See
    ``landscope.symmetry``."""
    if W is None:
        return symmetry.isotropy(problem_or_W, tol=tol)
    return symmetry.isotropy_of(problem_or_W, W, tol=tol)


try:
    __version__ = version("landscope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "connect",
    "empirical_ntk",
    "lambda_0",
    "ntk_gram",
    "dense_spectrum",
    "extremal_eigs",
    "slq",
    "spectrum",
    "trace",
    "Isotropy",
    "canonical_form",
    "group_types",
    "isotropy",
    "same_orbit",
    "symmetry",
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
