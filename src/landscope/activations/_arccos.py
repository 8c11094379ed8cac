"""The ReLU arc-cosine dual kernel.

The ReLU arc-cosine kernel (Cho & Saul 2009) and its derivatives, the building
block of the closed-form ReLU teacher-student population loss.

    K(u, v) = E_{x ~ N(0, I)}[relu(u.x) relu(v.x)]
            = (|u||v| sin t + (pi - t) u.v) / (2 pi),   t = angle(u, v).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["ArcCosPairs", "arccos_pairs", "relu"]


def relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU with the convention relu'(0) = 0 (torch's)."""
    return torch.relu(x)


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
        """K(u_i, z_j), (R, n, m)."""
        return (
            self.nu[..., :, None] * self.nz[..., None, :] * self.sin
            + (math.pi - self.angle) * self.dot
        ) / (2 * math.pi)


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
