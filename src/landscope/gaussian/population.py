"""The population Hessian of one-hidden-layer regression at the ground truth.

For f(W) = 1/2 E[(sum_i v_i phi(w_i . x) - y)^2], x ~ N(0, I_d), y from the teacher
(W*, v), the residual vanishes at W = W*, so the Hessian there is E[J J'] with block

    H_ij = v_i v_j E[phi'(w_i . x) phi'(w_j . x) x x'],    (d x d, i, j = 1..k).

Each block depends on x only through its projection on span(w_i, w_j): with Q (d x 2)
an orthonormal basis of that plane and z = Q'x ~ N(0, I_2),

    E[g x x'] = Q E[g z z'] Q' + E[g] (I - Q Q'),   g = phi'(a.z) phi'(b.z).

The 2-D expectations are done in polar coordinates (``quadrature.radial_composite`` and
``quadrature.angular_composite``): the angle is split exactly at the lines a.z = 0 and
b.z = 0 where phi' jumps when 0 is one of its kinks, so the integrand is smooth on each
piece. ReLU and leaky ReLU (phi' = s + (1 - s) 1{z > 0}, ``relu_slope`` = s) also have
the closed form (the wedge {a.z > 0, b.z > 0} of opening pi - theta):

    E[1{a.x>0} 1{b.x>0} x x'] = (pi - theta)/(2 pi) I + sin(theta)/(2 pi) (m m' - n n'),

m the unit bisector of a and b and n the unit vector orthogonal to m in their plane.
Kinks away from 0 are integrated without splitting there: accurate to the grid's
resolution only.

Zhong et al. ("Recovery guarantees for one-hidden-layer neural networks", ICML 2017,
Theorem 4.2) bound the smallest eigenvalue from below by
Omega(v_min^2 rho(sigma_k) / (kappa^2 lambda)), sigma_k the smallest singular value of
W*, kappa = sigma_1 / sigma_k and lambda = prod_i sigma_i / sigma_k^k; the constant is not
given, so ``local_convexity`` reports the bound with constant 1 and the ratio.

Functions take phi' as a callable on float64 tensors, its ``kinks``, and ``relu_slope``
(s for phi' = s + (1 - s) 1{z > 0}, None otherwise); the activation-aware versions (by
registry name) are in ``landscope.activations``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .moments import rho
from .quadrature import angular_composite, expectation, radial_composite

__all__ = ["LocalConvexity", "local_convexity", "pair_moment", "population_hessian", "wedge"]

Fn = Callable[[torch.Tensor], torch.Tensor]


def wedge(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E[1{a.x > 0} 1{b.x > 0} x x'] in closed form (d x d), a and b nonzero (d,)."""
    d = a.numel()
    na, nb = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
    ua, ub = a / na, b / nb
    # the angle from half-chord lengths: accurate near 0 and pi, where arccos is not
    theta = 2 * torch.atan2(torch.linalg.vector_norm(ua - ub), torch.linalg.vector_norm(ua + ub))
    c = torch.cos(theta)
    eye = torch.eye(d, dtype=a.dtype)
    out = (math.pi - theta) / (2 * math.pi) * eye
    s = torch.sin(theta)
    if float(s) > 0 and float(1 + c) > 0:
        m = (ua + ub) / torch.linalg.vector_norm(ua + ub)
        nvec = ua - (ua @ m) * m
        nvec = nvec / torch.linalg.vector_norm(nvec)
        out = out + s / (2 * math.pi) * (torch.outer(m, m) - torch.outer(nvec, nvec))
    elif float(1 + c) > 0:  # parallel: the half-space {a.x > 0}, E[1 xx'] = I / 2
        out = 0.5 * eye
    return out


def pair_moment(
    dphi: Fn,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    kinks: Sequence[float] = (),
    relu_slope: float | None = None,
) -> torch.Tensor:
    """E[phi'(a.x) phi'(b.x) x x'] for x ~ N(0, I_d), a and b nonzero (d,), float64.

    With ``relu_slope`` = s (phi' = s + (1 - s) 1{z > 0}) the closed form (``wedge``) is
    used and ``dphi`` is not called; otherwise quadrature, split at the kink 0 if it is in
    ``kinks``.
    """
    a, b = a.to(torch.float64), b.to(torch.float64)
    d = a.numel()
    if relu_slope is not None:
        slope = float(relu_slope)
        eye = torch.eye(d, dtype=torch.float64)
        # phi' = s + (1 - s) 1{.>0}: expand the product; E[1{a.x>0} x x'] = I / 2
        return slope**2 * eye + slope * (1 - slope) * eye + (1 - slope) ** 2 * wedge(a, b)
    split = 0.0 in tuple(kinks)
    if d == 1:
        sa, sb = float(a[0]), float(b[0])
        val = expectation(
            lambda z: dphi(sa * z) * dphi(sb * z) * z * z,
            kinks=(0.0,) if split else (),
        )
        return torch.tensor([[val]], dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.stack([a, b], dim=1))
    a2, b2 = Q.T @ a, Q.T @ b
    cuts = []
    if split:
        for u in (a2, b2):
            base = math.atan2(float(u[1]), float(u[0]))
            cuts += [base + math.pi / 2, base - math.pi / 2]
    t, wt = angular_composite(cuts)
    r, wr = radial_composite()
    U = torch.stack([torch.cos(t), torch.sin(t)], dim=1)  # (T, 2)
    pa, pb = U @ a2, U @ b2  # (T,)
    g = dphi(r[:, None] * pa[None, :]) * dphi(r[:, None] * pb[None, :])  # (Rn, T)
    w = wr[:, None] * wt[None, :]
    e0 = (w * g).sum()
    wg2 = (w * g * (r * r)[:, None]).sum(0)  # (T,)
    e2 = (U.T * wg2) @ U  # (2, 2)
    eye = torch.eye(d, dtype=torch.float64)
    return Q @ e2 @ Q.T + e0 * (eye - Q @ Q.T)


def population_hessian(
    W: torch.Tensor,
    v: torch.Tensor,
    dphi: Fn,
    *,
    kinks: Sequence[float] = (),
    relu_slope: float | None = None,
) -> torch.Tensor:
    """Hessian (k d, k d) of the population loss at its minimizer W = W* (one run).

    Args:
        W: (k, d) teacher first layer (no zero rows).
        v: (k,) second layer.
        dphi, kinks, relu_slope: phi' and what quadrature must know of it
            (``pair_moment``).

    Raises:
        ValueError: W and v of mismatched shapes, or a zero row of W.
    """
    W, v = W.to(torch.float64), v.to(torch.float64)
    if W.ndim != 2 or v.shape != (W.shape[0],):
        raise ValueError(f"need W (k, d) and v (k,); got {tuple(W.shape)} and {tuple(v.shape)}.")
    if bool((torch.linalg.vector_norm(W, dim=1) == 0).any()):
        raise ValueError("every teacher neuron needs a nonzero weight vector.")
    k, d = W.shape
    H = torch.zeros(k, d, k, d, dtype=torch.float64)
    for i in range(k):  # k(k+1)/2 blocks of quadrature, each vectorized over its nodes
        for j in range(i, k):
            B = v[i] * v[j] * pair_moment(dphi, W[i], W[j], kinks=kinks, relu_slope=relu_slope)
            H[i, :, j, :] = B
            H[j, :, i, :] = B.T
    return H.reshape(k * d, k * d)


@dataclass(frozen=True)
class LocalConvexity:
    """Smallest/largest population Hessian eigenvalue at the truth vs the rho bound.

    Attributes:
        eig_min, eig_max: extreme eigenvalues of ``population_hessian``.
        rho: rho(sigma_k) of the activation.
        bound: v_min^2 rho(sigma_k) / (kappa^2 lambda) (Zhong et al. with constant 1).
        kappa: sigma_1 / sigma_k.
        lam: prod_i sigma_i / sigma_k^k (inf when k > d).
    """

    eig_min: float
    eig_max: float
    rho: float
    bound: float
    kappa: float
    lam: float

    @property
    def ratio(self) -> float:
        """eig_min / bound (the bound's unknown constant, as measured)."""
        return self.eig_min / self.bound if self.bound > 0 else math.nan


def local_convexity(
    W: torch.Tensor,
    v: torch.Tensor,
    dphi: Fn,
    *,
    kinks: Sequence[float] = (),
    relu_slope: float | None = None,
) -> LocalConvexity:
    """Eigenvalues of ``population_hessian`` and v_min^2 rho(sigma_k) / (kappa^2 lambda).

    Raises:
        ValueError: as ``population_hessian``.
    """
    H = population_hessian(W, v, dphi, kinks=kinks, relu_slope=relu_slope)
    ev = torch.linalg.eigvalsh(H)
    s = torch.linalg.svdvals(W.to(torch.float64))
    k = W.shape[0]
    sk = float(s[-1])
    kappa = float(s[0]) / sk
    lam = float(torch.prod(s / sk)) if k <= W.shape[1] else math.inf
    rho_k = rho(dphi, sk, kinks)
    vmin = float(v.abs().min())
    bound = vmin**2 * rho_k / (kappa**2 * lam)
    return LocalConvexity(
        eig_min=float(ev[0]), eig_max=float(ev[-1]), rho=rho_k, bound=bound, kappa=kappa, lam=lam
    )
