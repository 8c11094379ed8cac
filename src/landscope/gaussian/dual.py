"""Closed-form dual kernels: E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for Gaussian pairs.

(u, v) ~ N(0, [[S_ii, S_ij], [S_ij, S_jj]]) for every pair (i, j) of a block of a
covariance matrix; t is the angle of the pair (cos t = S_ij / sqrt(S_ii S_jj)). Each form
is a function ``form(S, vi, vj, phi, dphi) -> (E_phi or None, E_dphi or None)`` of a block
S (..., a, b) of covariances and the variances vi (..., a), vj (..., b).

* ReLU and leaky ReLU, phi = (1 - a) relu + a z, expanded (``relu_dual(a)``; Cho & Saul
  2009, see ``arccos``):

      E[phi(u) phi(v)]   = (1 - a)^2 E[relu(u) relu(v)] + a S_ij
      E[phi'(u) phi'(v)] = a^2 + a (1 - a) (P(u > 0) + P(v > 0)) + (1 - a)^2 (pi - t) / (2 pi)

  using E[relu(u) v] = S_ij / 2 (the symmetry (u, v) -> (-u, -v)). A zero variance makes
  u = 0 exactly, and then phi'(0) is torch's (relu'(0) = 0, leaky: a).
* squared ReLU (``squared_relu_dual``; arc-cosine kernel of order 2, phi' = 2 relu):

      E[phi(u) phi(v)]   = S_ii S_jj (3 sin t cos t + (pi - t)(1 + 2 cos^2 t)) / (2 pi)
      E[phi'(u) phi'(v)] = 4 E[relu(u) relu(v)]

* scaled error functions phi(z) = A erf(beta z) (``erf_dual(s, c_phi, c_dphi)``, s = 2
  beta^2; Williams, "Computing with infinite networks", NIPS 1997):

      E[phi(u) phi(v)]   = A^2 (2 / pi) arcsin(s S_ij / sqrt((1 + s S_ii)(1 + s S_jj)))
      E[phi'(u) phi'(v)] = A^2 s (2 / pi) / sqrt((1 + s S_ii)(1 + s S_jj) - s^2 S_ij^2)

  the second from phi'(z) = A beta (2 / sqrt pi) e^(-beta^2 z^2) and
  E[e^(-beta^2 (u^2 + v^2))] = det(I + 2 beta^2 S)^(-1/2). The presets: ``ERF``, erf(z)
  (torch's, SciPy's and neural-tangents' erf; beta = 1, A = 1); ``ERF_SQRT2``,
  erf(z / sqrt 2) (beta^2 = 1/2, phi' = 2 x the N(0, 1) density); ``ERF_ZHONG``,
  (sqrt(pi) / 2) erf(z) with phi'(z) = e^(-z^2), the form of Zhong et al. 2017.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch

from .arccos import arccos2, covariance_parts

__all__ = [
    "ERF",
    "ERF_SQRT2",
    "ERF_ZHONG",
    "DualForm",
    "ErfScale",
    "Pair",
    "erf_dual",
    "relu_dual",
    "squared_relu_dual",
]

Pair = tuple[torch.Tensor | None, torch.Tensor | None]
DualForm = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool, bool], Pair]


class ErfScale(NamedTuple):
    """phi(z) = A erf(beta z) as its dual kernel needs it.

    Attributes:
        s: 2 beta^2 (a power of two in the presets, so s S is exact).
        c_phi: A^2 (2 / pi), the factor of the arcsin.
        c_dphi: A^2 s (2 / pi), the factor of E[phi' phi'].
    """

    s: float
    c_phi: float
    c_dphi: float


ERF = ErfScale(2.0, 2 / math.pi, 4 / math.pi)  # erf(z)
ERF_SQRT2 = ErfScale(1.0, 2 / math.pi, 2 / math.pi)  # erf(z / sqrt 2)
ERF_ZHONG = ErfScale(2.0, 0.5, 1.0)  # (sqrt(pi) / 2) erf(z): A^2 = pi / 4


def _relu_family(slope: float, S, vi, vj, phi: bool, dphi: bool) -> Pair:
    a = slope
    _, t, _, k1 = covariance_parts(S, vi, vj)
    sig = k1.mul_((1 - a) ** 2).add_(S, alpha=a) if phi else None
    dot = None
    if dphi:
        # P(u > 0): 1/2, or 0 when u = 0 exactly (relu'(0) = 0, leaky: a)
        hi, hj = 0.5 * (vi > 0).to(S.dtype), 0.5 * (vj > 0).to(S.dtype)
        k0 = (math.pi - t).mul_(4 / (2 * math.pi)).mul_(hi[..., :, None] * hj[..., None, :])
        dot = k0.mul_((1 - a) ** 2).add_(a * (1 - a) * (hi[..., :, None] + hj[..., None, :]))
        dot.add_(a * a)
    return sig, dot


def relu_dual(slope: float = 0.0) -> DualForm:
    """The dual form of phi(z) = max(z, slope z), slope in [0, 1) (0: ReLU)."""
    return partial(_relu_family, float(slope))


def squared_relu_dual(S, vi, vj, phi: bool, dphi: bool) -> Pair:
    """The dual form of phi(z) = relu(z)^2 (arc-cosine kernel of order 2)."""
    cos, t, sin, k1 = covariance_parts(S, vi, vj)
    sig = arccos2(vi[..., :, None] * vj[..., None, :], cos, sin, t) if phi else None
    return sig, (k1.mul_(4) if dphi else None)


def _erf_family(scale: ErfScale, S, vi, vj, phi: bool, dphi: bool) -> Pair:
    s, c_phi, c_dphi = scale
    S = S * s
    dd = (1 + vi * s)[..., :, None] * (1 + vj * s)[..., None, :]
    sig = torch.arcsin((S / torch.sqrt(dd)).clamp_(-1.0, 1.0)).mul_(c_phi) if phi else None
    dot = torch.rsqrt(dd.sub_(S * S)).mul_(c_dphi) if dphi else None
    return sig, dot


def erf_dual(scale: ErfScale) -> DualForm:
    """The dual form of phi(z) = A erf(beta z) (``ErfScale``; presets ERF, ERF_SQRT2,
    ERF_ZHONG)."""
    return partial(_erf_family, ErfScale(*scale))
