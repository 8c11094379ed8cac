"""Hessian-vector products of many vectors per row, and a row's Hessian as a SciPy operator.

A ``Problem``'s ``hvp(theta, v)`` takes one vector per parameter row. The estimators here
need m vectors per row (probes, Lanczos bases of several starts). A problem that declares
the ``ManyHvp`` capability, ``hvp_many(theta (R, P), V (R, m, P)) -> (R, m, P)``
(``ModuleLoss`` does: the m products of a row share its forward pass and gradient), gets
them in one call. Otherwise each row is tiled m times and all R * m products go through
``problem.hvp`` as one batch, in chunks of rows that bound the memory a dense-Hessian
``hvp`` (such as ``ReluTeacherStudent``'s) can take; such a problem recomputes its Hessian
for every product, so for small P the dense route (``dense_spectrum``, or the trace of
``problem.hessian``) is cheaper than any stochastic estimate.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from ..problems import Problem
from ..problems.capabilities import ManyHvp

__all__ = ["hvp_operator"]

# Memory one problem.hvp call may use by default, assuming the worst case of a problem that
# forms each row's dense P x P Hessian (ReluTeacherStudent does); problems that do not
# (ModuleLoss chunks its own vmap) only see fewer rows per call.
_HVP_BYTES = 256 << 20
# ...but never fewer rows than this per call: below it the per-call overhead dominates.
_MIN_ROWS = 8


def check_chunk(chunk: object) -> int | None:
    """Validate a user's ``chunk`` (rows per ``problem.hvp`` call)."""
    if chunk is None:
        return None
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer or None, got {chunk!r}.")
    return int(chunk)


def rows_per_call(n_params: int, chunk: int | None) -> int:
    """Rows per ``problem.hvp`` call: ``chunk`` if given, else from the memory budget."""
    if chunk is not None:
        return chunk
    return max(_MIN_ROWS, _HVP_BYTES // (8 * n_params * n_params))


def hvp_many(
    problem: Problem, theta: torch.Tensor, V: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """H(theta_r) V[r, j] for every row r and vector j, as one batch: (R, m, P).

    Args:
        problem: the objective.
        theta: (R, P) rows, in the problem's dtype and device.
        V: (R, m, P) vectors, any floating dtype; computed in the problem's dtype.
        chunk: products per call: rows of the tiled (R * m, P) batch per ``problem.hvp``
            call (default: see ``rows_per_call``), or chunk // m rows per
            ``problem.hvp_many`` call (default: all rows; the problem chunks its own work).

    Returns:
        (R, m, P) in ``V``'s dtype.
    """
    R, m, P = V.shape
    if theta.shape != (R, P):
        raise ValueError(f"theta has shape {tuple(theta.shape)}; expected ({R}, {P}).")
    if isinstance(problem, ManyHvp):
        Vp = V.to(dtype=problem.dtype, device=problem.device)
        # The problem bounds its own memory; a chunk given here caps the products per call.
        step = max(R, 1) if chunk is None else max(1, chunk // max(m, 1))
        out = [
            problem.hvp_many(theta[lo : lo + step], Vp[lo : lo + step]) for lo in range(0, R, step)
        ]
        return torch.cat(out).to(V.dtype)
    rows = theta.repeat_interleave(m, dim=0)  # row r repeated for each of its m vectors
    flat = V.reshape(R * m, P).to(dtype=problem.dtype, device=problem.device)
    step = rows_per_call(P, chunk)
    out = [
        problem.hvp(rows[lo : lo + step], flat[lo : lo + step])
        for lo in range(0, R * m, step)  # memory chunks, each one batched call
    ]
    return torch.cat(out).reshape(R, m, P).to(V.dtype)


def hvp_operator(problem: Problem, theta_row: object) -> LinearOperator:
    """The Hessian at one parameter row as a ``scipy.sparse.linalg.LinearOperator``.

    Each ``matvec`` is one ``problem.hvp`` call; a ``matmat`` with m columns is one batched
    call on the row tiled m times. The operator is symmetric (``rmatvec = matvec``), so
    SciPy's Lanczos (``eigsh``) and Krylov solvers can use it as is.

    Args:
        problem: the objective.
        theta_row: one point, (P,) or (1, P).

    Returns:
        A (P, P) operator of the problem's dtype (as numpy), taking and giving numpy arrays.

    Raises:
        ValueError: if ``theta_row`` holds more than one row or has the wrong length.
    """
    row = problem.as_batch(theta_row)
    if row.shape[0] != 1:
        raise ValueError(
            f"theta_row holds {row.shape[0]} rows; hvp_operator takes one row (P,) or (1, P)."
        )
    P = problem.n_params
    np_dtype = np.float64 if problem.dtype == torch.float64 else np.float32

    def matmat(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        V = torch.as_tensor(np.ascontiguousarray(X.T), dtype=problem.dtype, device=problem.device)
        HV = hvp_many(problem, row, V[None])[0]  # (m, P)
        return HV.T.detach().cpu().numpy().astype(np_dtype, copy=False)

    def matvec(x: np.ndarray) -> np.ndarray:
        return matmat(np.asarray(x).reshape(P, 1))[:, 0]

    return LinearOperator(
        shape=(P, P), matvec=matvec, rmatvec=matvec, matmat=matmat, dtype=np_dtype
    )
