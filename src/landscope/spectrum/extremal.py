"""Extreme Hessian eigenvalues by Lanczos (SciPy's ``eigsh``) on Hessian-vector products.

For each parameter row the Hessian is a ``LinearOperator`` (``hvp_operator``) and ARPACK's
implicitly restarted Lanczos finds the k algebraically largest (``which='LA'``) and / or
smallest (``which='SA'``) eigenpairs. ARPACK works on one operator at a time, so this is the
one place the spectrum room loops over rows; the residual check afterwards is batched.

Residual bound (Parlett, *The Symmetric Eigenvalue Problem*, Thm 4.5.1): for symmetric H,
any unit vector u and any scalar lambda, H has an eigenvalue in
[lambda - ||H u - lambda u||, lambda + ||H u - lambda u||]. The bound needs no assumption
on convergence, so it holds for every pair returned, converged or not; it does not say
which eigenvalue (with a tight cluster it can be a neighbour of the one sought).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

from ..problems import Problem
from ._hvp import check_chunk, hvp_many, hvp_operator

__all__ = ["Extremal", "extremal_eigs"]

_WHICH = ("both", "largest", "smallest")


@dataclass(frozen=True)
class Extremal:
    """Extreme eigenpairs' values and their residual bounds, per row.

    Attributes:
        largest: (R, k) the k largest eigenvalues, descending (column 0 is the largest);
            None when not asked for.
        smallest: (R, k) the k smallest eigenvalues, ascending (column 0 is the
            smallest); None when not asked for.
        residuals: (R, m) ||H u - lambda u|| of each computed pair, m = k or 2k, in the
            order of ``values`` (the largest block, then the smallest block).
        bounds: (R, m) rigorous half-widths: H has an eigenvalue within ``bounds[r, j]``
            of ``values[r, j]`` (the residual divided by ||u||, which is 1 up to rounding).
            The residual is itself computed in floating point, with an error of order
            eps * ||H|| * sqrt(P) that the bound does not include.
        converged: (R, m) whether ARPACK reported the pair converged to ``tol``.
        tol: ARPACK's relative tolerance used (0 means machine precision).
    """

    largest: torch.Tensor | None
    smallest: torch.Tensor | None
    residuals: torch.Tensor
    bounds: torch.Tensor
    converged: torch.Tensor
    tol: float

    @property
    def values(self) -> torch.Tensor:
        """(R, m) the computed eigenvalues: ``largest`` then ``smallest``, as stored."""
        return torch.cat([x for x in (self.largest, self.smallest) if x is not None], dim=1)

    def intervals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lo, hi), each (R, m): every interval holds a true eigenvalue of H."""
        return self.values - self.bounds, self.values + self.bounds


def _check(problem: Problem, k: object, which: object, tol: object) -> int:
    if which not in _WHICH:
        raise ValueError(f"unknown which {which!r}; choose one of {_WHICH}.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    P = problem.n_params
    if k >= P:
        raise ValueError(
            f"k = {k} eigenvalues at one end need k < P = {P} for Lanczos; "
            "use dense_spectrum for the whole spectrum."
        )
    if not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a non-negative number (0: machine precision), got {tol!r}.")
    return int(k)


def _one_end(
    op, k: int, mode: str, v0: np.ndarray, tol: float, ncv: int | None, maxiter: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """eigsh on one operator: values ascending (k,), vectors (P, k), converged (k,)."""
    P = op.shape[0]
    ncv = min(P, max(2 * k + 1, 20)) if ncv is None else ncv
    try:
        vals, vecs = eigsh(op, k=k, which=mode, v0=v0, tol=tol, ncv=ncv, maxiter=maxiter)
        conv = np.ones(k, dtype=bool)
    except ArpackNoConvergence as err:  # keep what converged; the residuals tell the rest
        vals = np.full(k, np.nan)
        vecs = np.full((P, k), np.nan)
        got = len(err.eigenvalues)
        order = np.argsort(err.eigenvalues)
        vals[:got], vecs[:, :got] = err.eigenvalues[order], err.eigenvectors[:, order]
        conv = np.arange(k) < got
    order = np.argsort(vals)
    return vals[order], vecs[:, order], conv[order]


def extremal_eigs(
    problem: Problem,
    theta: object,
    k: int = 5,
    which: str = "both",
    *,
    tol: float = 0.0,
    ncv: int | None = None,
    maxiter: int | None = None,
    generator: torch.Generator | None = None,
    chunk: int | None = None,
) -> Extremal:
    """The k largest and / or smallest Hessian eigenvalues of every row, with bounds.

    Args:
        problem: the objective (only ``hvp`` is used).
        theta: (P,) or (R, P) rows.
        k: eigenvalues at each end (1 <= k < P).
        which: ``"both"``, ``"largest"`` or ``"smallest"``.
        tol: ARPACK's stopping tolerance, relative to each eigenvalue: a pair is accepted
            when ||H u - lambda u|| <= tol * |lambda|. 0 (default) asks for machine
            precision.
        ncv: Lanczos vectors ARPACK keeps (default min(P, max(2k + 1, 20))).
        maxiter: ARPACK's restart limit (default SciPy's, 10 P).
        generator: draws each row's random start vector (the start is random so that it
            is not confined to a symmetric subspace, as a vector of ones would be for a
            permutation-invariant network). None: torch's global generator.
        chunk: rows per ``problem.hvp`` call in the batched residual check.

    Returns:
        An ``Extremal``. Pairs ARPACK did not converge are kept with ``converged`` False
        (NaN where it returned nothing); non-finite parameter rows give NaN everywhere.

    Raises:
        ValueError: for an unknown ``which``, k outside 1..P-1, or a negative ``tol``.
    """
    k = _check(problem, k, which, tol)
    chunk = check_chunk(chunk)
    t = problem.as_batch(theta)
    R, P = t.shape
    modes = [m for w, m in (("largest", "LA"), ("smallest", "SA")) if which in (w, "both")]
    vals = np.full((R, len(modes), k), np.nan)
    vecs = np.full((R, len(modes), k, P), np.nan)
    conv = np.zeros((R, len(modes), k), dtype=bool)
    # Start vectors are drawn for every row (finite or not) so that row r's result does not
    # depend on the other rows.
    starts = torch.randn(R, len(modes), P, generator=generator, dtype=torch.float64).numpy()
    for r in range(R):  # ARPACK takes one operator at a time
        if not bool(torch.isfinite(t[r]).all()):
            continue
        op = hvp_operator(problem, t[r])
        for j, mode in enumerate(modes):
            v, u, c = _one_end(op, k, mode, starts[r, j], float(tol), ncv, maxiter)
            if mode == "LA":  # descending: the largest first
                v, u, c = v[::-1], u[:, ::-1], c[::-1]
            vals[r, j], vecs[r, j], conv[r, j] = v, u.T, c

    dt, dev = t.dtype, t.device
    lam = torch.as_tensor(vals.reshape(R, -1), dtype=dt, device=dev)  # (R, m)
    U = torch.as_tensor(vecs.reshape(R, -1, P), dtype=dt, device=dev)  # (R, m, P)
    ok = torch.isfinite(U).all(dim=-1)
    HU = torch.full_like(U, math.nan)
    rows = torch.nonzero(ok.all(dim=1)).flatten()  # rows whose every pair came back
    if rows.numel():
        HU[rows] = hvp_many(problem, t[rows], U[rows], chunk)
    part = torch.nonzero(ok.any(dim=1) & ~ok.all(dim=1)).flatten()
    for r in part.tolist():  # rare: ARPACK gave some pairs of this row, not all
        cols = torch.nonzero(ok[r]).flatten()
        HU[r, cols] = hvp_many(problem, t[r : r + 1], U[r : r + 1, cols], chunk)[0]
    res = torch.linalg.vector_norm(HU - lam[..., None] * U, dim=-1)
    bounds = res / torch.linalg.vector_norm(U, dim=-1)
    split = [lam[:, i * k : (i + 1) * k] for i in range(len(modes))]
    largest = split[0] if "LA" in modes else None
    smallest = split[-1] if "SA" in modes else None
    return Extremal(
        largest=largest,
        smallest=smallest,
        residuals=res,
        bounds=bounds,
        converged=torch.as_tensor(conv.reshape(R, -1), device=dev),
        tol=float(tol),
    )
