"""Exact Hessian spectra of small models: the dense Hessian and ``eigvalsh``, batched over rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._validate import finite_rows
from ..problems import Problem
from ._hvp import check_chunk
from .clusters import as_eigenvalue_row, eigenvalue_clusters

__all__ = ["MAX_DENSE", "SpectrumSummary", "dense_spectrum", "summarize_spectrum"]

# The library's one dense limit: the largest P for which dense_spectrum builds the Hessian
# (beyond it, it refuses), certify takes the dense route, and `landscope spectrum` reports
# the whole spectrum. One row's Hessian is then 512 MiB in float64; eigvalsh took 6.8 s at
# P = 4900 and 49 s at P = 8192 on one core (1.8 GB peak). Problems whose hvp forms the
# dense Hessian (ReluTeacherStudent: 2.4 s per Hessian at P = 4900) have no faster route:
# Lanczos needs hundreds to thousands of products for the smallest eigenvalue.
MAX_DENSE = 8192
# Dense Hessians held at once by default, in bytes.
_DENSE_BYTES = 256 << 20


def dense_spectrum(
    problem: Problem, theta: object, *, max_dense: int = MAX_DENSE, chunk: int | None = None
) -> torch.Tensor:
    """All Hessian eigenvalues of every row, ascending: (R, P).

    ``problem.hessian`` is handed to ``torch.linalg.eigvalsh`` in row chunks. LAPACK reads
    its lower triangle only, so the rounding asymmetry of an autograd Hessian moves the
    eigenvalues by at most the norm of that asymmetry, as symmetrizing (H + H') / 2 would
    (which took a sixth of eigvalsh's time at P = 400).

    Args:
        problem: the objective.
        theta: (P,) or (R, P) rows.
        max_dense: largest P allowed (default ``MAX_DENSE``, 8192); beyond it use the HVP-based
            ``extremal_eigs``, ``trace`` and ``slq``.
        chunk: rows per ``hessian`` call (default: as many as fit in about 256 MB).

    Returns:
        (R, P) eigenvalues in the problem's dtype, each row ascending; NaN rows for
        non-finite parameter rows (a diverged run is reported, never fatal).

    Raises:
        ValueError: if P > ``max_dense`` or ``chunk`` is not a positive integer.
    """
    P = problem.n_params
    if P > max_dense:
        raise ValueError(
            f"the problem has P = {P} parameters, more than max_dense = {max_dense} for a dense "
            "Hessian; use extremal_eigs, trace or slq, which need only Hessian-vector products."
        )
    t = problem.as_batch(theta)
    step = check_chunk(chunk) or max(1, _DENSE_BYTES // (8 * P * P))
    R = t.shape[0]
    out = torch.full((R, P), math.nan, dtype=t.dtype, device=t.device)
    finite = torch.isfinite(t).all(dim=1)
    idx = torch.nonzero(finite).flatten()
    for lo in range(0, idx.numel(), step):  # memory chunks, each one batched computation
        rows = idx[lo : lo + step]
        H = problem.hessian(t[rows])
        ok = finite_rows(H)  # a finite row can still overflow
        ev = torch.full((rows.numel(), P), math.nan, dtype=t.dtype, device=t.device)
        if bool(ok.any()):
            ev[ok] = torch.linalg.eigvalsh(H[ok])
        out[rows] = ev
    return out


@dataclass(frozen=True)
class SpectrumSummary:
    """What an exact spectrum (one row) says about a critical point.

    Attributes:
        n_params: P.
        eig_min, eig_max: the extreme eigenvalues.
        negative: eigenvalues below ``-tol``.
        near_zero: eigenvalues with |lambda| <= ``tol``.
        positive: eigenvalues above ``tol``.
        distinct: (value, multiplicity) of the clusters of eigenvalues whose neighbours
            (in ascending order) are at most ``tol`` apart; value is the cluster's mean.
        tol: the absolute tolerance used for all the above.
    """

    n_params: int
    eig_min: float
    eig_max: float
    negative: int
    near_zero: int
    positive: int
    distinct: tuple[tuple[float, int], ...]
    tol: float

    def as_dict(self) -> dict:
        return {
            "n_params": self.n_params,
            "eig_min": self.eig_min,
            "eig_max": self.eig_max,
            "negative": self.negative,
            "near_zero": self.near_zero,
            "positive": self.positive,
            "n_distinct": len(self.distinct),
            "distinct": [{"value": v, "multiplicity": m} for v, m in self.distinct],
            "tol": self.tol,
        }


def summarize_spectrum(eigs: object, tol: float = 1e-6) -> SpectrumSummary:
    """Counts and clusters of one row's eigenvalues.

    Args:
        eigs: (P,) eigenvalues (any order; a (1, P) row is accepted).
        tol: absolute tolerance: |lambda| <= tol is "near zero", and sorted neighbours at
            most tol apart are one distinct eigenvalue (``eigenvalue_clusters``; a cluster
            can span more than tol when it is a chain of close neighbours).

    Raises:
        ValueError: for more than one row, no eigenvalues, NaN, or a negative tol.
    """
    distinct = eigenvalue_clusters(eigs, tol)
    e = as_eigenvalue_row(eigs)
    return SpectrumSummary(
        n_params=int(e.numel()),
        eig_min=float(e[0]),
        eig_max=float(e[-1]),
        negative=int((e < -tol).sum()),
        near_zero=int((e.abs() <= tol).sum()),
        positive=int((e > tol).sum()),
        distinct=distinct,
        tol=float(tol),
    )
