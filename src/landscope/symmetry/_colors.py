"""Input checks and the clustering of a weight matrix's entries into colors.

Symmetry questions are exact (is P W Q' equal to W?), but minima found numerically are
equal only up to rounding. So entries are first clustered: sorted, and a new cluster
starts wherever two consecutive values differ by more than ``tol * max(1, max|W|)``
(single linkage, the transitive closure of "equal within tol"). A cluster's id is its
rank by value, so the color matrix of ``g.W`` is the color matrix of ``W`` permuted by
``g``: every later step works on these integers exactly.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

__all__ = ["GROUPS", "Group", "as_matrix", "check_group", "check_tol", "colors", "scale"]

Group = Literal["SnxSd", "Sn"]
"""A symmetry group acting on a weight matrix W (n, d).

``"SnxSd"``: W -> P W Q' with P a permutation of the n rows (student neurons) and Q a
permutation of the d columns (inputs, permuted together with the teacher's neurons);
the group of the ReLU teacher-student with the identity teacher. ``"Sn"``: W -> P W,
rows only; the group of any teacher-student problem.
"""

GROUPS: tuple[str, ...] = ("SnxSd", "Sn")


def check_group(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; use one of {list(GROUPS)}.")
    return group


def check_tol(tol: float) -> float:
    if not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")
    return float(tol)


def as_matrix(W: object, name: str = "W") -> np.ndarray:
    """A float64 numpy copy of a 2-D array or tensor with finite entries.

    Raises:
        ValueError: if ``W`` is not 2-D, is empty, or holds NaN or infinity.
    """
    if isinstance(W, torch.Tensor):
        arr = W.detach().cpu().to(torch.float64).numpy()
    else:
        arr = np.asarray(W, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) matrix, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return np.array(arr, dtype=np.float64)


def scale(W: np.ndarray) -> float:
    """The absolute size of one ``tol``: max(1, max|W|)."""
    return max(1.0, float(np.abs(W).max()))


def colors(W: np.ndarray, tol: float) -> np.ndarray:
    """Cluster ids (int64, same shape as W), ranked by value; see the module docstring."""
    flat = W.ravel()
    order = np.argsort(flat, kind="stable")
    gaps = np.diff(flat[order]) > tol * scale(W)
    ids = np.empty(flat.shape[0], dtype=np.int64)
    ids[order] = np.concatenate([[0], np.cumsum(gaps)])
    return ids.reshape(W.shape)
