"""Convex reformulations that certify global optima.

- ``lifted``: quadratic networks as least squares in the lifted matrix M = W' diag(a) W.
- ``patterns``: the activation patterns of ReLU neurons on a data set (exact or sampled).
- ``relu``: two-layer ReLU networks with weight decay as a convex program over those
  patterns (Pilanci & Ergen 2020): the global optimum, the network attaining it, and a
  duality-gap certificate for any trained network.
- ``bn``: the same with batch normalization after the first layer (Ergen et al. 2022), a
  plain program on the whitened centred data; its closed form when n <= d + 1.
"""

from .bn import (
    BNClosedForm,
    BNGeometry,
    ConvexBNFit,
    bn_geometry,
    bn_objective,
    bn_optimality_gap,
    bn_predict,
    closed_form_bn,
    fit_relu_bn,
)
from .lifted import LiftedSolution, lifted_least_squares, network_from_matrix
from .patterns import interior_points, pattern_count, relu_patterns, sample_gates
from .relu import (
    ConvexReLUFit,
    dual_bound,
    fit_gated_relu,
    fit_relu,
    fit_relu_batch,
    max_correlation,
    nonconvex_objective,
    optimality_gap,
    relu_from_gated,
    sequential_weights,
)

__all__ = [
    "BNClosedForm",
    "BNGeometry",
    "ConvexBNFit",
    "bn_geometry",
    "bn_objective",
    "bn_optimality_gap",
    "bn_predict",
    "closed_form_bn",
    "fit_relu_bn",
    "ConvexReLUFit",
    "LiftedSolution",
    "dual_bound",
    "fit_gated_relu",
    "fit_relu",
    "fit_relu_batch",
    "interior_points",
    "lifted_least_squares",
    "max_correlation",
    "network_from_matrix",
    "nonconvex_objective",
    "optimality_gap",
    "pattern_count",
    "relu_from_gated",
    "relu_patterns",
    "sample_gates",
    "sequential_weights",
]
