"""Neural tangent kernels: infinite-width Gram matrices, lambda_0, and the empirical NTK.

``ntk_gram(X, activation, kind, depth)`` is Du et al.'s H-infinity (``kind="h_inf"``),
the NNGP kernel or the NTK of a fully connected net in NTK parameterization: closed forms
for relu, leaky_relu, squared_relu and the error functions (erf, erf_sqrt2, erf_zhong),
quadrature for every other registered activation. Every kernel function defaults to
``kind=DEFAULT_KIND`` (``"h_inf"``). ``empirical_ntk(model, X)`` is the finite-width
kernel J J' of any module.

>>> import landscope as ls
>>> X = ls.kernels.sphere(20, 5, seed=0)
>>> ls.lambda_0(X) > 0   # no two points parallel: H-infinity is positive definite
True
"""

from ..data import DATA_SOURCES, DATA_SUFFIXES, DEFAULT_N, digits, load_points, points, sphere
from ..gaussian.bivariate import ANGULAR_NODES, RADIAL_NODES
from .analytic import (
    DEFAULT_KIND,
    KINDS,
    KernelSpectrum,
    kernel_spectrum,
    lambda_0,
    ntk_cross,
    ntk_gram,
    spectrum_summary,
)
from .dynamics import (
    BoundCheck,
    Dynamics,
    NTKTracker,
    bound,
    check_bound,
    empirical_rate,
    kernel_rate,
    record_schedule,
    train_two_layer,
)
from .empirical import empirical_ntk
from .report import NtkReport, ntk_report
from .ridge import RidgeFit, kernel_ridge
from .two_layer import TwoLayerNTK, two_layer_gram, two_layer_init

__all__ = [
    "ANGULAR_NODES",
    "BoundCheck",
    "DEFAULT_KIND",
    "Dynamics",
    "NTKTracker",
    "TwoLayerNTK",
    "bound",
    "check_bound",
    "empirical_rate",
    "kernel_rate",
    "ntk_cross",
    "record_schedule",
    "RidgeFit",
    "kernel_ridge",
    "train_two_layer",
    "two_layer_gram",
    "two_layer_init",
    "KINDS",
    "RADIAL_NODES",
    "KernelSpectrum",
    "DATA_SOURCES",
    "DATA_SUFFIXES",
    "DEFAULT_N",
    "NtkReport",
    "ntk_report",
    "points",
    "digits",
    "empirical_ntk",
    "kernel_spectrum",
    "lambda_0",
    "load_points",
    "ntk_gram",
    "sphere",
    "spectrum_summary",
]
