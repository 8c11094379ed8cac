"""Hermite coefficients of an activation at scale sigma, and which of them vanish.

With z ~ N(0, 1) and He_j the probabilists' Hermite polynomials,

    c_j(sigma) = E[phi(sigma z) He_j(z)]      (unnormalized: E[He_j^2] = j!).

The moment M_j = E[y He_j(x)] of y = sum_i v_i phi(w_i . x), x ~ N(0, I_d), equals
sum_i v_i c_j(|w_i|) (w_i / |w_i|)^{(x) j}: the tensor method of Zhong et al.
("Recovery guarantees for one-hidden-layer neural networks", ICML 2017) reads the
directions w_i off the orders whose c_j does not vanish (``nonvanishing_orders``).

Functions take phi as a callable on float64 tensors and its ``kinks`` (where phi' or
phi'' jumps; the quadrature splits there); the activation-aware versions are in
``landscope.activations``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .quadrature import check_sigma, normal_rule

__all__ = ["VANISH_REL", "coefficient", "nonvanishing_orders"]

Fn = Callable[[torch.Tensor], torch.Tensor]

VANISH_REL = 1e-10  # |c_j| <= this * max_l |c_l| counts as a vanishing coefficient


def coefficient(phi: Fn, j: int, sigma: float, kinks: Sequence[float] = ()) -> float:
    """c_j(sigma) = E[phi(sigma z) He_j(z)]: the order-j Hermite coefficient (unnormalized).

    Raises:
        ValueError: j is not an integer >= 0, or sigma is not a positive finite number.
    """
    if int(j) != j or j < 0:
        raise ValueError(f"Hermite order must be an integer >= 0; got {j!r}.")
    s = check_sigma(sigma)
    z, w = normal_rule(s, tuple(kinks))
    coef = np.zeros(int(j) + 1)
    coef[-1] = 1.0
    he = torch.from_numpy(np.polynomial.hermite_e.hermeval(z.numpy(), coef))
    return float(w @ (phi(s * z) * he))


def nonvanishing_orders(
    phi: Fn,
    kinks: Sequence[float] = (),
    max_order: int = 4,
    sigmas: Sequence[float] = (0.5, 1.0, 2.0),
) -> tuple[int, ...]:
    """Orders j in 1..max_order whose coefficient c_j(sigma) does not vanish.

    A coefficient vanishes when |c_j| <= 1e-10 max_l |c_l| at every sigma tried: a
    structural zero (odd activations have c_2 = c_4 = 0, ReLU has c_3 = 0), not a
    coincidence at one scale.
    """
    keep = set()
    for s in sigmas:
        c = [abs(coefficient(phi, j, s, kinks)) for j in range(1, max_order + 1)]
        top = max(c)
        keep.update(j + 1 for j, cj in enumerate(c) if top > 0 and cj > VANISH_REL * top)
    return tuple(sorted(keep))
