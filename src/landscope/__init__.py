"""landscope: the optimization landscape of neural networks, by experiment.

The public names below are loaded on first use (PEP 562 module ``__getattr__``), so that
``import landscope`` and the torch-free parts (``landscope.sweep.store``) do not import
torch and every room.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the eager imports, for type checkers and IDEs
    from . import activations, connect, spectrum, symmetry
    from .convex import lifted_least_squares, network_from_matrix
    from .critical import Certificate, Tolerances, certify
    from .init import TensorInit, align_signs, tensor_init
    from .kernels import empirical_ntk, lambda_0, ntk_gram
    from .optim import (
        GD,
        LBFGS,
        Adam,
        Armijo,
        LevenbergMarquardt,
        Newton,
        SharpnessGD,
        Stop,
        newton_polish,
        run,
    )
    from .problems import (
        DeepQuadraticNet,
        DropoutLinear,
        EmpiricalTeacherStudent,
        LocalConvexity,
        ModuleLoss,
        OneHiddenRegression,
        Planted,
        Problem,
        QuadraticNet,
        QuadraticPopulation,
        ReluBatchNorm,
        ReluTeacherStudent,
        ReluWeightDecay,
        UnivariateReLU,
        init_from_seeds,
        local_convexity,
        planted,
        population_hessian,
        recovery_error,
    )
    from .spectrum import dense_spectrum, extremal_eigs, slq, trace
    from .symmetry import Isotropy, canonical_form, group_types, same_orbit

# public name -> the subpackage it lives in (relative to this package)
_LAZY: dict[str, str] = {
    "lifted_least_squares": ".convex",
    "network_from_matrix": ".convex",
    "Certificate": ".critical",
    "Tolerances": ".critical",
    "certify": ".critical",
    "TensorInit": ".init",
    "align_signs": ".init",
    "tensor_init": ".init",
    "empirical_ntk": ".kernels",
    "lambda_0": ".kernels",
    "ntk_gram": ".kernels",
    "GD": ".optim",
    "Adam": ".optim",
    "Armijo": ".optim",
    "LBFGS": ".optim",
    "LevenbergMarquardt": ".optim",
    "Newton": ".optim",
    "Stop": ".optim",
    "SharpnessGD": ".optim",
    "run": ".optim",
    "newton_polish": ".optim",
    "DeepQuadraticNet": ".problems",
    "EmpiricalTeacherStudent": ".problems",
    "LocalConvexity": ".problems",
    "ModuleLoss": ".problems",
    "OneHiddenRegression": ".problems",
    "Planted": ".problems",
    "Problem": ".problems",
    "QuadraticNet": ".problems",
    "QuadraticPopulation": ".problems",
    "ReluTeacherStudent": ".problems",
    "ReluBatchNorm": ".problems",
    "ReluWeightDecay": ".problems",
    "UnivariateReLU": ".problems",
    "DropoutLinear": ".problems",
    "init_from_seeds": ".problems",
    "local_convexity": ".problems",
    "planted": ".problems",
    "population_hessian": ".problems",
    "recovery_error": ".problems",
    "dense_spectrum": ".spectrum",
    "extremal_eigs": ".spectrum",
    "slq": ".spectrum",
    "trace": ".spectrum",
    "Isotropy": ".symmetry",
    "canonical_form": ".symmetry",
    "group_types": ".symmetry",
    "same_orbit": ".symmetry",
}


def __getattr__(name: str) -> Any:
    """Load a public name, or a subpackage (``landscope.kernels``), on first access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":  # a missing dependency, not a missing name
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return value  # not cached: after the first import this is two dictionary look-ups


def __dir__() -> list[str]:
    return sorted(__all__)


def isotropy(problem_or_W, W=None, *, tol: float = 1e-6) -> Isotropy:
    """The isotropy group of a point: ``isotropy(prob, W)`` under the group the problem
    declares (``prob.symmetry``), or ``isotropy(W)`` under S_n x S_d. See
    ``landscope.symmetry``."""
    from . import symmetry

    if W is None:
        return symmetry.isotropy(problem_or_W, tol=tol)
    return symmetry.isotropy_of(problem_or_W, W, tol=tol)


try:
    __version__ = version("landscope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "connect",
    "gaussian",
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
    "Armijo",
    "LBFGS",
    "LevenbergMarquardt",
    "Newton",
    "Stop",
    "SharpnessGD",
    "run",
    "local_convexity",
    "planted",
    "population_hessian",
    "recovery_error",
    "tensor_init",
    "GD",
    "Adam",
    "Certificate",
    "DeepQuadraticNet",
    "DropoutLinear",
    "EmpiricalTeacherStudent",
    "ModuleLoss",
    "Problem",
    "QuadraticNet",
    "QuadraticPopulation",
    "ReluTeacherStudent",
    "ReluBatchNorm",
    "ReluWeightDecay",
    "UnivariateReLU",
    "convex",
    "data",
    "Tolerances",
    "__version__",
    "certify",
    "init_from_seeds",
    "lifted_least_squares",
    "network_from_matrix",
    "newton_polish",
]
