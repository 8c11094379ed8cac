"""Distinct eigenvalues and their multiplicities: clustering a computed spectrum.

Eigenvalues that are equal in exact arithmetic (repeated because of a symmetry, e.g. the
neuron permutations at a symmetric critical point) come out of ``eigvalsh`` different in
the last digits. They are grouped by single linkage on the sorted values: neighbours
e_i <= e_{i+1} belong to one cluster when

    e_{i+1} - e_i <= tol + rtol * |e_{i+1}|,

so a cluster is a chain of close neighbours and may span more than the threshold. Each
cluster is reported by its mean and its size (the multiplicity).
"""

from __future__ import annotations

import math
from numbers import Real

import torch

__all__ = ["eigenvalue_clusters"]


def _check_tol(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    return float(value)


def as_eigenvalue_row(eigs: object) -> torch.Tensor:
    """One row of eigenvalues as a float64 CPU tensor (P,), sorted ascending.

    Raises:
        ValueError: for more than one row, no eigenvalues, or NaN / infinite values.
    """
    e = torch.as_tensor(eigs, dtype=torch.float64).detach().cpu()
    if e.dim() == 2 and e.shape[0] == 1:
        e = e[0]
    if e.dim() != 1 or e.numel() == 0:
        raise ValueError(f"eigs has shape {tuple(e.shape)}; expected one row (P,) of eigenvalues.")
    if not bool(torch.isfinite(e).all()):
        raise ValueError("eigs contains NaN or infinite values; the spectrum was not computed.")
    return torch.sort(e).values


def eigenvalue_clusters(
    eigs: object, tol: float = 1e-6, *, rtol: float = 0.0
) -> tuple[tuple[float, int], ...]:
    """The distinct eigenvalues of one spectrum, as (value, multiplicity), ascending.

    Args:
        eigs: (P,) eigenvalues in any order (a (1, P) row is accepted), torch or numpy.
        tol: absolute part of the neighbour threshold (see the module docstring).
        rtol: relative part, times |e_{i+1}| (default 0: purely absolute).

    Returns:
        One (mean of the cluster, number of eigenvalues in it) per cluster; the
        multiplicities add up to P.

    Raises:
        ValueError: for more than one row, no eigenvalues, NaN, or a negative tolerance.
    """
    tol, rtol = _check_tol("tol", tol), _check_tol("rtol", rtol)
    e = as_eigenvalue_row(eigs)
    gap = torch.diff(e)
    breaks = torch.nonzero(gap > tol + rtol * e[1:].abs()).flatten() + 1
    bounds = [0, *breaks.tolist(), e.numel()]
    return tuple(
        (float(e[a:b].mean()), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    )
