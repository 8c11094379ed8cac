"""Objectives evaluated on a batch of R parameter rows at once.

The core protocol is ``Problem``; optional capabilities are runtime-checkable protocols
(``RowData``, ``Residuals``, ``ManyHvp``, ``KnownOptimum``, ``Factored``, ``StopNorm``,
``FusedGD``, ``FactoredJacobian``, in ``capabilities``), tested with ``isinstance``.
Every problem class exported here passes the conformance suite
``tests/problems/test_conformance.py``.

``LocalConvexity``, ``local_convexity`` and ``population_hessian`` (the population Hessian of
one-hidden-layer regression at the truth, an analysis rather than a problem) live in
``landscope.activations`` (math in ``landscope.gaussian.population``) and are re-exported
here.

``models`` names the ``torch.nn.Module`` factories studies train as a ``ModuleLoss``
(``make_model("small_cnn:2")``); they build modules, not problems. ``covariance`` names
the covariance of Gaussian inputs (``iso``, ``equi:c``, ``scales:s``) and the blocks of
input coordinates a permutation must keep; ``gaussian_inputs`` samples them.
"""

from ..activations.population import LocalConvexity, local_convexity, population_hessian
from . import capabilities
from ._base import Problem, init_from_seeds
from .capabilities import *  # noqa: F403  (its __all__ is added to this one)
from .covariance import COVARIANCE_SPECS, covariance, gaussian_inputs, parse_covariance
from .deep_quadratic import DeepQuadraticNet
from .dropout_linear import DropoutLinear, WhitenedMinimizer, whitened_minimizer
from .empirical import EmpiricalTeacherStudent, ModuleLoss
from .models import MODELS, make_model, parse_model, sigmoid_mlp, small_cnn
from .one_hidden import OneHiddenRegression, Planted, planted, recovery_error
from .quadratic import QuadraticNet, QuadraticPopulation
from .relu_bn import ReluBatchNorm
from .relu_decay import ReluWeightDecay
from .relu_teacher import ReluTeacherStudent
from .toy import DoubleWell, MuellerBrown, Quadratic
from .two_layer import TwoLayerRegression
from .univariate import INITS, UnivariateReLU

__all__ = [
    "LocalConvexity",
    "OneHiddenRegression",
    "Planted",
    "local_convexity",
    "planted",
    "population_hessian",
    "recovery_error",
    "DeepQuadraticNet",
    "DropoutLinear",
    "WhitenedMinimizer",
    "whitened_minimizer",
    "EmpiricalTeacherStudent",
    "ModuleLoss",
    "MODELS",
    "make_model",
    "parse_model",
    "sigmoid_mlp",
    "small_cnn",
    "Problem",
    "QuadraticNet",
    "QuadraticPopulation",
    "ReluBatchNorm",
    "ReluTeacherStudent",
    "ReluWeightDecay",
    "init_from_seeds",
    "COVARIANCE_SPECS",
    "covariance",
    "gaussian_inputs",
    "parse_covariance",
    "DoubleWell",
    "MuellerBrown",
    "Quadratic",
    "TwoLayerRegression",
    "UnivariateReLU",
    "INITS",
]
__all__ += capabilities.__all__
