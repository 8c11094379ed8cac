"""The lifted least-squares problem of quadratic networks, and the map back to weights.

A shallow quadratic network computes f(x) = <M, x x'> with M = W' diag(a) W, so on
samples (x_i, y_i) its squared loss is a convex function of the symmetric matrix M:

    min_{M = M'}  1/(2m) sum_i (y_i - <M, x_i x_i'>)^2.

This is ordinary least squares in the d(d+1)/2 entries of M's upper triangle (an
off-diagonal entry multiplies 2 x_k x_l), solved by ``numpy.linalg.lstsq`` (minimum norm
when m < d(d+1)/2). Its value is the global minimum of the network loss whenever h >= d
(any symmetric M is then W' diag(a) W); with h < rank(M*) it is only a lower bound.
``network_from_matrix`` maps M back to a network by its eigen-decomposition,
w_k = sqrt|l_k| u_k and a_k = sign l_k, keeping the h eigenvalues largest in magnitude
(Kazemipour, Larsen & Druckmann 2019, the "least squares" variant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LiftedSolution", "lifted_least_squares", "network_from_matrix"]


@dataclass(frozen=True)
class LiftedSolution:
    """Attributes:
    M: the minimizer (d, d), symmetric, float64 numpy.
    loss: 1/(2m) sum_i (y_i - <M, x_i x_i'>)^2 at M.
    rank: numerical rank of M (eigenvalues above 1e-9 * max |eigenvalue|).
    unique: whether the design has full column rank (m >= d(d+1)/2 generic samples).
    """

    M: np.ndarray
    loss: float
    rank: int
    unique: bool


def _features(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = X.shape[1]
    iu, ju = np.triu_indices(d)
    scale = np.where(iu == ju, 1.0, 2.0)
    return X[:, iu] * X[:, ju] * scale, iu, ju


def lifted_least_squares(X: object, y: object) -> LiftedSolution:
    """Solve the lifted least-squares problem on samples X (m, d), y (m,).

    Raises:
        ValueError: for mis-shaped, empty or non-finite data.
    """
    X = np.asarray(torch.as_tensor(X).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(y).detach().cpu(), dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X has shape {X.shape}; expected (m, d) with m >= 1.")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y has shape {y.shape}; expected ({X.shape[0]},).")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X or y contains NaN or infinite values.")
    F, iu, ju = _features(X)
    coef, _, rank, _ = np.linalg.lstsq(F, y, rcond=None)
    d = X.shape[1]
    M = np.zeros((d, d))
    M[iu, ju] = coef
    M[ju, iu] = coef
    r = F @ coef - y
    ev = np.linalg.eigvalsh(M)
    top = np.abs(ev).max() if ev.size else 0.0
    return LiftedSolution(
        M=M,
        loss=float(0.5 * np.mean(r * r)),
        rank=int((np.abs(ev) > 1e-9 * top).sum()) if top > 0 else 0,
        unique=bool(rank == F.shape[1]),
    )


def network_from_matrix(M: object, h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (W (h, d), a (h,)) with W' diag(a) W the best rank-h part of symmetric M.

    The h eigenvalues of largest magnitude are kept (rows beyond d are zero, with a = +1;
    rows of numerically zero eigenvalues are tiny), which reproduces M to rounding when
    h >= rank(M).

    Raises:
        ValueError: if M is not a finite symmetric matrix or h < 1.
    """
    M = torch.as_tensor(M, dtype=torch.float64)
    if M.dim() != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M has shape {tuple(M.shape)}; expected a square matrix.")
    if not bool(torch.isfinite(M).all()) or not torch.allclose(M, M.T, rtol=1e-10, atol=1e-12):
        raise ValueError("M must be a finite symmetric matrix.")
    if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
        raise ValueError(f"h must be an integer >= 1, got {h!r}.")
    lam, U = torch.linalg.eigh(M)
    order = torch.argsort(lam.abs(), descending=True)[: min(h, M.shape[0])]
    lam, U = lam[order], U[:, order]
    W = torch.zeros(h, M.shape[0], dtype=torch.float64)
    a = torch.ones(h, dtype=torch.float64)
    W[: lam.numel()] = lam.abs().sqrt()[:, None] * U.T
    a[: lam.numel()] = torch.where(lam < 0, -1.0, 1.0)
    return W, a
