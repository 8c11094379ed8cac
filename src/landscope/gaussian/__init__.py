"""Gaussian math: quadrature, moments, Hermite coefficients, dual kernels, population Hessians.

The one home of the integrals against Gaussian measures that the rest of landscope needs.
It works on plain callables (phi, phi' as functions of float64 tensors) and the points
where they have kinks, and imports only torch, numpy and scipy; ``landscope.activations``
wraps it for registered activation names.

* ``quadrature``: 1-D rules for N(0, 1) split at kinks; radial and angular rules for
  N(0, I_2) in polar coordinates.
* ``moments``: alpha_{i,j}(sigma) and rho(sigma) of Zhong et al. (2017).
* ``hermite``: Hermite coefficients c_j(sigma) and the orders that do not vanish.
* ``arccos``: the arc-cosine kernels of orders 0, 1, 2 (Cho & Saul 2009), from vectors
  or covariances.
* ``dual``: closed-form dual kernels E[phi phi], E[phi' phi'] (ReLU family, squared
  ReLU, scaled erf).
* ``bivariate``: E[f(u) f(v)] for every pair of a covariance matrix, by closed form or
  quadrature (Fourier in angle for smooth f, sectors for kinked f).
* ``population``: the population Hessian of one-hidden-layer regression at the truth and
  Zhong et al.'s local strong convexity.

>>> import math, torch
>>> from landscope import gaussian
>>> round(gaussian.expectation(torch.abs, kinks=(0.0,)), 12) == round(math.sqrt(2 / math.pi), 12)
True
"""

from . import arccos, bivariate, dual, hermite, moments, population, quadrature
from .arccos import ArcCosPairs, arccos0, arccos1, arccos2, arccos_pairs
from .bivariate import ANGULAR_NODES, MAX_RADIAL, METHODS, RADIAL_NODES, expectations
from .dual import ERF, ERF_SQRT2, ERF_ZHONG, ErfScale, erf_dual, relu_dual, squared_relu_dual
from .hermite import coefficient, nonvanishing_orders
from .moments import alpha, alphas, rho, rho_terms
from .population import LocalConvexity, local_convexity, pair_moment, population_hessian, wedge
from .quadrature import expectation, normal_rule, radial_gauss

__all__ = [
    "ANGULAR_NODES",
    "ERF",
    "ERF_SQRT2",
    "ERF_ZHONG",
    "MAX_RADIAL",
    "METHODS",
    "RADIAL_NODES",
    "ArcCosPairs",
    "ErfScale",
    "LocalConvexity",
    "alpha",
    "alphas",
    "arccos",
    "arccos0",
    "arccos1",
    "arccos2",
    "arccos_pairs",
    "bivariate",
    "coefficient",
    "dual",
    "erf_dual",
    "expectation",
    "expectations",
    "hermite",
    "local_convexity",
    "moments",
    "nonvanishing_orders",
    "normal_rule",
    "pair_moment",
    "population",
    "population_hessian",
    "quadrature",
    "radial_gauss",
    "relu_dual",
    "rho",
    "rho_terms",
    "squared_relu_dual",
    "wedge",
]
