"""The population Hessian at the ground truth for a registered activation, and the local
strong convexity of Zhong et al. (2017) measured against its rho bound.

Thin wrappers of ``landscope.gaussian.population`` (where the math, its quadrature and
the ReLU closed form are documented): they look the activation up and pass on its phi',
its kinks and, for relu and leaky_relu, the slope that selects the closed form.

    H_ij = v_i v_j E[phi'(w_i . x) phi'(w_j . x) x x'],   x ~ N(0, I_d),

and ``local_convexity`` compares the smallest eigenvalue of H with
v_min^2 rho(sigma_k) / (kappa^2 lambda) (Zhong, Song, Jain, Bartlett & Dhillon, "Recovery
guarantees for one-hidden-layer neural networks", ICML 2017, Theorem 4.2, constant 1).
"""

from __future__ import annotations

import torch

from ..gaussian import population as _pop
from ..gaussian.population import LocalConvexity
from .dual import relu_slope
from .registry import Activation, get

__all__ = ["LocalConvexity", "local_convexity", "pair_moment", "population_hessian"]


def _spec(activation: str | Activation) -> tuple[Activation, dict]:
    act = get(activation)
    return act, {"kinks": act.kinks, "relu_slope": relu_slope(act)}


def pair_moment(activation: str | Activation, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E[phi'(a.x) phi'(b.x) x x'] for x ~ N(0, I_d), a and b nonzero (d,), float64.

    Raises:
        ValueError: an unknown activation.
    """
    act, spec = _spec(activation)
    return _pop.pair_moment(act.dphi, a, b, **spec)


def population_hessian(
    W: torch.Tensor, v: torch.Tensor, activation: str | Activation = "relu"
) -> torch.Tensor:
    """Hessian (k d, k d) of the population loss at its minimizer W = W* (one run).

    Args:
        W: (k, d) teacher first layer (no zero rows).
        v: (k,) second layer.
        activation: a registered name or an ``Activation``.

    Raises:
        ValueError: an unknown activation, mismatched shapes, or a zero row of W.
    """
    act, spec = _spec(activation)
    return _pop.population_hessian(W, v, act.dphi, **spec)


def local_convexity(
    W: torch.Tensor, v: torch.Tensor, activation: str | Activation = "relu"
) -> LocalConvexity:
    """Eigenvalues of ``population_hessian`` and v_min^2 rho(sigma_k) / (kappa^2 lambda).

    Raises:
        ValueError: as ``population_hessian``.
    """
    act, spec = _spec(activation)
    return _pop.local_convexity(W, v, act.dphi, **spec)
