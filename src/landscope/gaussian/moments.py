"""The Gaussian moments alpha_{i,j}(sigma) and rho(sigma) of Zhong et al. (2017).

Zhong, Song, Jain, Bartlett & Dhillon, "Recovery guarantees for one-hidden-layer neural
networks" (ICML 2017), with z ~ N(0, 1) and phi' the derivative of an activation:

    alpha_{i,j}(sigma) = E[(phi'(sigma z))^i z^j]
    rho(sigma) = min{ alpha_20 - alpha_10^2 - alpha_11^2,
                      alpha_22 - alpha_11^2 - alpha_12^2,
                      alpha_10 alpha_12 - alpha_11^2 }

The first two terms of rho are residual variances and are computed as such,
E[(phi'(sigma z) - alpha_10 - alpha_11 z)^2] and E[(z phi'(sigma z) - alpha_11 - alpha_12 z)^2],
so they never lose digits to cancellation and are >= 0 by construction. A term smaller
than 1e-14 (alpha_20 + alpha_22) is rounding noise and is reported as exactly 0 (the
linear activation's rho is 0, not 1e-35).

Every function takes phi' as a callable on float64 tensors and the points where it jumps
(``kinks``), and integrates with ``quadrature.normal_rule`` split there; the
activation-aware versions (by registry name) are in ``landscope.activations``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .quadrature import check_sigma, normal_rule

__all__ = ["ROUNDING", "alpha", "alphas", "rho", "rho_terms"]

Fn = Callable[[torch.Tensor], torch.Tensor]

ROUNDING = 1e-14  # rho terms below this * (alpha_20 + alpha_22) are reported as 0


def _dphi_values(dphi: Fn, sigma: float, kinks: Sequence[float]):
    z, w = normal_rule(check_sigma(sigma), tuple(kinks))
    return z, w, dphi(sigma * z)


def alphas(dphi: Fn, sigma: float, kinks: Sequence[float] = ()) -> dict[tuple[int, int], float]:
    """alpha_{i,j}(sigma) for (i, j) in {1, 2} x {0, 1, 2}.

    Raises:
        ValueError: sigma is not a positive finite number.
    """
    z, w, g = _dphi_values(dphi, sigma, kinks)
    out = {}
    for i in (1, 2):
        gi = g**i
        for j in (0, 1, 2):
            out[(i, j)] = float(w @ (gi * z**j))
    return out


def alpha(dphi: Fn, i: int, j: int, sigma: float, kinks: Sequence[float] = ()) -> float:
    """alpha_{i,j}(sigma) = E[(phi'(sigma z))^i z^j] for any integers i, j >= 0.

    Raises:
        ValueError: i or j is not an integer >= 0, or sigma is not positive and finite.
    """
    if int(i) != i or int(j) != j or i < 0 or j < 0:
        raise ValueError(f"alpha needs integer orders i, j >= 0; got ({i!r}, {j!r}).")
    z, w, g = _dphi_values(dphi, sigma, kinks)
    return float(w @ (g ** int(i) * z ** int(j)))


def rho_terms(dphi: Fn, sigma: float, kinks: Sequence[float] = ()) -> tuple[float, float, float]:
    """The three terms whose minimum is rho(sigma) (the first two as residual variances).

    Raises:
        ValueError: sigma is not a positive finite number.
    """
    z, w, g = _dphi_values(dphi, sigma, kinks)
    a10 = float(w @ g)
    a11 = float(w @ (g * z))
    a12 = float(w @ (g * z * z))
    t1 = float(w @ (g - a10 - a11 * z) ** 2)
    t2 = float(w @ (z * g - a11 - a12 * z) ** 2)
    t3 = a10 * a12 - a11 * a11
    # Terms below rounding level of the moments they combine are exact zeros (linear phi).
    scale = float(w @ (g * g * (1 + z * z)))
    return tuple(0.0 if abs(t) <= ROUNDING * scale else t for t in (t1, t2, t3))


def rho(dphi: Fn, sigma: float, kinks: Sequence[float] = ()) -> float:
    """rho(sigma) of Zhong et al. (2017): > 0 for activations with local strong convexity.

    Raises:
        ValueError: sigma is not a positive finite number.
    """
    return min(rho_terms(dphi, sigma, kinks))
