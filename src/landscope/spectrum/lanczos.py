"""Batched Lanczos tridiagonalization in torch, with full reorthogonalization.

B independent Lanczos processes (one per parameter row and start vector) advance together:
one batched matrix-vector product per step for all of them. Every new vector is
orthogonalized against all earlier ones twice (classical Gram-Schmidt twice is enough to
reach orthogonality to working precision; Giraud, Langou & Rozloznik 2005), so there are
no ghost copies of converged Ritz values and the tridiagonal T is a faithful projection
of H; memory is (B, steps, P).

When the Krylov space of a start vector is exhausted (beta_j ~ 0: the start vector lies
in an invariant subspace, as it does at a symmetric point whose eigenvalues repeat),
the process restarts with a random vector orthogonal to the basis and sets beta_j = 0
exactly. T then splits into blocks; the later blocks' eigenvectors have zero first
component, so they add nodes of weight zero to the quadrature but do not change it.
With steps = P the basis spans the whole space and the eigenvalues of T are those of H.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["lanczos", "tridiagonal"]

# beta_j <= BREAKDOWN * (running bound on ||T||) counts as an exhausted Krylov space.
# Zeroing such a beta moves T's eigenvalues by at most beta_j (Weyl), i.e. 1e-10 ||H||,
# far below any smoothing width a density is drawn with, and well above the ~1e-15 ||H||
# rounding level of a beta that is zero in exact arithmetic.
BREAKDOWN = 1e-10


def _project_out(w: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """w - V V' w for rows w (B, P) and orthonormal bases V (B, j, P), done twice."""
    for _ in range(2):
        w = w - torch.einsum("bjp,bj->bp", V, torch.einsum("bjp,bp->bj", V, w))
    return w


def lanczos(
    apply: Callable[[torch.Tensor], torch.Tensor],
    v0: torch.Tensor,
    steps: int,
    *,
    breakdown: float = BREAKDOWN,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``m = min(steps, P)`` Lanczos steps from each of B start vectors.

    Args:
        apply: (B, P) -> (B, P), row b multiplied by its own symmetric matrix H_b.
        v0: (B, P) start vectors (normalized here; must be non-zero and finite).
        steps: Lanczos steps (>= 1); capped at P, where the basis is complete.
        breakdown: relative size of beta below which the process restarts.

    Returns:
        ``alpha`` (B, m) and ``beta`` (B, m - 1): the diagonal and off-diagonal of T_b =
        V_b' H_b V_b, V_b the orthonormal Lanczos basis started at v0_b / ||v0_b||.
    """
    B, P = v0.shape
    m = min(int(steps), P)
    dt, dev = v0.dtype, v0.device
    V = torch.zeros(B, m, P, dtype=dt, device=dev)
    alpha = torch.zeros(B, m, dtype=dt, device=dev)
    beta = torch.zeros(B, max(m - 1, 0), dtype=dt, device=dev)
    scale = torch.zeros(B, dtype=dt, device=dev)  # max row sum of T so far: <= ||H||
    V[:, 0] = v0 / torch.linalg.vector_norm(v0, dim=1, keepdim=True)
    for j in range(m):
        w = apply(V[:, j])
        a = (w * V[:, j]).sum(-1)
        alpha[:, j] = a
        if j == m - 1:
            break
        w = w - a[:, None] * V[:, j]
        b_prev = beta[:, j - 1] if j > 0 else torch.zeros_like(a)
        if j > 0:
            w = w - b_prev[:, None] * V[:, j - 1]
        w = _project_out(w, V[:, : j + 1])
        b = torch.linalg.vector_norm(w, dim=1)
        scale = torch.maximum(scale, a.abs() + b_prev + b)
        broken = b <= breakdown * scale
        nxt = w / torch.where(broken, 1.0, b)[:, None]
        if bool(broken.any()):
            # A restart vector that depends only on (j, b): rows stay independent of each
            # other and of the caller's generator.
            gen = torch.Generator().manual_seed(j)
            r = torch.randn(B, P, generator=gen, dtype=dt).to(dev)[broken]
            r = _project_out(r, V[broken, : j + 1])
            nxt[broken] = r / torch.linalg.vector_norm(r, dim=1, keepdim=True)
            b = torch.where(broken, 0.0, b)
        beta[:, j] = b
        V[:, j + 1] = nxt
    return alpha, beta


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The dense symmetric tridiagonal matrices (B, m, m) with these diagonals."""
    T = torch.diag_embed(alpha)
    if beta.shape[-1]:
        T = T + torch.diag_embed(beta, offset=1) + torch.diag_embed(beta, offset=-1)
    return T
