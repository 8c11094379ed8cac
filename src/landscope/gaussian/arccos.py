"""The arc-cosine kernels (Cho & Saul, "Kernel methods for deep learning", NIPS 2009).

For x ~ N(0, I) and two weight vectors u, v at angle t, or equally for a centred
Gaussian pair (a, b) = (u.x, v.x) with covariance [[|u|^2, u.v], [u.v, |v|^2]]:

    order 0:  E[1{a > 0} 1{b > 0}]     = (pi - t) / (2 pi)
    order 1:  E[relu(a) relu(b)]       = (|u||v| sin t + (pi - t) u.v) / (2 pi)
    order 2:  E[relu(a)^2 relu(b)^2]   = |u|^2 |v|^2 (3 sin t cos t + (pi - t)(1 + 2 cos^2 t))
                                         / (2 pi)

The order-1 kernel is written once (``arccos1``) and evaluated from two parametrizations:
from the vectors themselves (``arccos_pairs``: the closed-form ReLU teacher-student) and
from a covariance matrix (``covariance_parts``: the infinite-width kernels, whose
layers only know covariances).

Angles near 0 and pi are ill-conditioned in the cosine: both parametrizations take the
sine as sqrt((1 - c)(1 + c)) of the *same* clamped cosine the angle comes from, so that
rounding in c perturbs t and sin t consistently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "ArcCosPairs",
    "arccos0",
    "arccos1",
    "arccos2",
    "arccos_pairs",
    "covariance_cosines",
    "covariance_parts",
]


def arccos0(angle: torch.Tensor) -> torch.Tensor:
    """(pi - t) / (2 pi): the order-0 kernel, P(a > 0, b > 0) for a pair at angle t."""
    return (math.pi - angle) / (2 * math.pi)


def arccos1(
    norms: torch.Tensor, sin: torch.Tensor, angle: torch.Tensor, dot: torch.Tensor
) -> torch.Tensor:
    """(|u||v| sin t + (pi - t) u.v) / (2 pi): the order-1 kernel E[relu(a) relu(b)].

    Args:
        norms: |u||v| (the product of the standard deviations).
        sin, angle: sin t and t.
        dot: u.v (the covariance).

    All of the same shape (or broadcastable); a new tensor is returned.
    """
    out = norms * sin
    return out.add_((math.pi - angle) * dot).div_(2 * math.pi)


def arccos2(
    var_prod: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, angle: torch.Tensor
) -> torch.Tensor:
    """|u|^2 |v|^2 (3 sin t cos t + (pi - t)(1 + 2 cos^2 t)) / (2 pi): E[relu(a)^2 relu(b)^2].

    ``var_prod`` is |u|^2 |v|^2 (the product of the variances).
    """
    j2 = (3 * sin * cos).add_((math.pi - angle) * (1 + 2 * cos * cos))
    return j2.mul_(var_prod).div_(2 * math.pi)


@dataclass(frozen=True)
class ArcCosPairs:
    """Pairwise quantities between rows of U (R, n, d) and Z (R, m, d).

    Attributes:
        nu, nz: norms, (R, n) and (R, m).
        ubar, zbar: unit vectors (zero rows stay zero), (R, n, d) and (R, m, d).
        dot: u.z, (R, n, m).
        cos, sin, angle: of the angle t between u and z, (R, n, m); pairs with a zero
            vector get cos = 0 (their kernel terms vanish through the norms).
    """

    nu: torch.Tensor
    nz: torch.Tensor
    ubar: torch.Tensor
    zbar: torch.Tensor
    dot: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    angle: torch.Tensor

    def kernel(self) -> torch.Tensor:
        """K(u_i, z_j) = E_x[relu(u_i.x) relu(z_j.x)] (``arccos1``), (R, n, m)."""
        norms = self.nu[..., :, None] * self.nz[..., None, :]
        return arccos1(norms, self.sin, self.angle, self.dot)


def arccos_pairs(U: torch.Tensor, Z: torch.Tensor, nz: torch.Tensor | None = None) -> ArcCosPairs:
    """Pairwise norms, cosines and angles, safe for zero and (anti)parallel vectors.

    The angle comes from the clamped cosine, and the sine as sqrt(1 - c^2) of the *same*
    cosine, so that rounding in c perturbs t and sin t consistently; the gradient
    g(u, v) = (|v| sin t u/|u| + (pi - t) v) / (2 pi) then stays accurate to O(t * dt)
    near parallel pairs, which is what lets Newton polishing reach ||grad|| ~ 1e-13.
    ``nz`` may pass the norms of Z when the caller has them.
    """
    nu = torch.linalg.vector_norm(U, dim=-1)
    if nz is None:
        nz = torch.linalg.vector_norm(Z, dim=-1)
    tiny = torch.finfo(U.dtype).tiny
    ubar = U / nu.clamp_min(tiny)[..., None]
    zbar = Z / nz.clamp_min(tiny)[..., None]
    dot = U @ Z.transpose(-1, -2)
    cos = (dot / (nu[..., :, None] * nz[..., None, :]).clamp_min(tiny)).clamp_(-1.0, 1.0)
    sin = torch.sqrt(((1.0 - cos) * (1.0 + cos)).clamp_min_(0.0))
    angle = torch.arccos(cos)
    return ArcCosPairs(nu=nu, nz=nz, ubar=ubar, zbar=zbar, dot=dot, cos=cos, sin=sin, angle=angle)


def covariance_cosines(
    S: torch.Tensor, vi: torch.Tensor, vj: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(S_ii S_jj) and the clamped cosines of a block S (..., a, b) of pairs, given the
    variances vi (..., a) and vj (..., b).

    A pair with a zero variance gets cosine 0: nothing of its value depends on the angle.
    The cosine is S_ij / sqrt(S_ii S_jj), not S_ij / (sd_i sd_j): sqrt(x * x) = x exactly
    in IEEE arithmetic, so the diagonal and pairs scaled by powers of two get |cos| = 1
    exactly, where 1 - 1e-16 would give an angle of 1.5e-8 (see ``covariance_parts``).
    """
    prod = torch.sqrt(vi[..., :, None] * vj[..., None, :])
    cos = torch.where(prod > 0, S / prod.clamp_min(torch.finfo(S.dtype).tiny), 0.0)
    return prod, cos.clamp_(-1.0, 1.0)


def covariance_parts(
    S: torch.Tensor, vi: torch.Tensor, vj: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cosine, angle, sine and E[relu(u) relu(v)] (``arccos1``) of a block of pairs.

    Conditioning: these kernels depend on t ~ sqrt(2 (1 - cos t)) near parallel pairs, so a
    rounding error of 1e-16 in a cosine there moves an entry by up to ~1e-8 of its size.
    That is a property of computing from S, not of this code; inputs that are exactly
    parallel up to a power-of-two scale keep cos = 1 exactly (``covariance_cosines``).
    """
    prod, cos = covariance_cosines(S, vi, vj)
    t = torch.arccos(cos)
    # sin from the same clamped cosine, so that t and sin t stay consistent near 0 and pi
    sin = torch.sqrt(((1 - cos) * (1 + cos)).clamp_min_(0.0))
    return cos, t, sin, arccos1(prod, sin, t, S)
