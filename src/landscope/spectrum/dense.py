"""Exact Hessian spectra of small models: the dense Hessian and ``eigvalsh``, batched over rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..problems import Problem
from ._hvp import check_chunk

__all__ = ["MAX_DENSE", "SpectrumSummary", "dense_spectrum", "summarize_spectrum"]

# P beyond which dense_spectrum refuses: the P x P Hessian of one row then takes more than
# 128 MB in float64 and eigvalsh ~ 10 P^3 flops (over 6e11 at P = 4000: seconds to minutes).
MAX_DENSE = 4000
# Dense Hessians held at once by default, in bytes.
_DENSE_BYTES = 256 << 20


def dense_spectrum(
    problem: Problem, theta: object, *, max_dense: int = MAX_DENSE, chunk: int | None = None
) -> torch.Tensor:
    """All Hessian eigenvalues of every row, ascending: (R, P).

    ``problem.hessian`` is symmetrized, (H + H') / 2, to remove the rounding asymmetry of
    autograd, and handed to ``torch.linalg.eigvalsh`` in row chunks.

    Args:
        problem: the objective.
        theta: (P,) or (R, P) rows.
        max_dense: largest P allowed (default 4000); beyond it use the HVP-based
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
        H = 0.5 * (H + H.transpose(1, 2))
        ok = torch.isfinite(H).flatten(1).all(dim=1)  # a finite row can still overflow
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
            most tol apart are one distinct eigenvalue (so a cluster can span more than tol
            when it is a chain of close neighbours).

    Raises:
        ValueError: for more than one row, no eigenvalues, NaN, or a negative tol.
    """
    e = torch.as_tensor(eigs, dtype=torch.float64).detach().cpu()
    if e.dim() == 2 and e.shape[0] == 1:
        e = e[0]
    if e.dim() != 1 or e.numel() == 0:
        raise ValueError(f"eigs has shape {tuple(e.shape)}; expected one row (P,) of eigenvalues.")
    if not bool(torch.isfinite(e).all()):
        raise ValueError("eigs contains NaN or infinite values; the spectrum was not computed.")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    e, _ = torch.sort(e)
    breaks = torch.nonzero(torch.diff(e) > tol).flatten() + 1
    bounds = [0, *breaks.tolist(), e.numel()]
    distinct = tuple(
        (float(e[a:b].mean()), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    )
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
