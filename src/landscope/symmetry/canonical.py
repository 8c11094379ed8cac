"""Canonical forms of orbits, and grouping points by orbit ("type" of a minimum).

Two minima of the same type (one is g.W of the other) get the same canonical form, so
a study can count the distinct minima among many runs without comparing every pair
under every group element. The canonical form is the relabeling of W chosen by the
individualization-refinement search of ``_search.canonical_labeling``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._colors import Group, as_matrix, check_group, check_tol, colors, scale
from ._search import automorphisms, canonical_labeling

__all__ = ["canonical_form", "group_types", "same_orbit"]


def _canonical(A: np.ndarray, group: str, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column positions (index -> slot) of the canonical relabeling of A."""
    C = colors(A, tol)
    d = A.shape[1]
    cells = np.zeros(d, dtype=np.int64) if group == "SnxSd" else np.arange(d)
    gens = automorphisms(C, cells).generators  # prunes the search to one child per orbit
    return canonical_labeling(C, cells, gens)


def _relabel(A: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    out = np.empty_like(A)
    out[r[:, None], c[None, :]] = A
    return out


def canonical_form(
    W: np.ndarray | torch.Tensor, group: Group = "SnxSd", tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A canonical representative of W's orbit, and the permutations that give it.

    ``Wc = P W Q'`` (Q = I for ``"Sn"``), and for any group element g the point g.W
    (or g.W plus noise well below ``tol``) has the same ``Wc`` up to that noise: the
    relabeling is chosen on the clustered entries (see ``isotropy``), which g permutes
    exactly. Points in different orbits get different ``Wc``.

    Args:
        W: (n, d) weight matrix, numpy array or torch tensor.
        group: ``"SnxSd"`` or ``"Sn"``.
        tol: as for ``isotropy``.

    Returns:
        (Wc, P, Q): Wc (n, d), and the permutation matrices P (n, n), Q (d, d), as numpy
        arrays, or as tensors of W's dtype and device when W is a tensor.

    Raises:
        ValueError: for a bad W, group or tol.
    """
    check_group(group)
    A = as_matrix(W)
    r, c = _canonical(A, group, check_tol(tol))
    n, d = A.shape
    P = np.zeros((n, n))
    P[r, np.arange(n)] = 1.0
    Q = np.zeros((d, d))
    Q[c, np.arange(d)] = 1.0
    Wc = _relabel(A, r, c)
    if isinstance(W, torch.Tensor):
        like = {"dtype": W.dtype, "device": W.device}
        return tuple(torch.as_tensor(x, **like) for x in (Wc, P, Q))
    return Wc, P, Q


def _same(A: np.ndarray, B: np.ndarray, tol: float) -> bool:
    if A.shape != B.shape:
        return False
    return bool(np.abs(A - B).max() <= tol * max(scale(A), scale(B)))


def group_types(
    Ws: Sequence | np.ndarray | torch.Tensor, group: Group = "SnxSd", tol: float = 1e-6
) -> list[int]:
    """A type id per point: equal ids for points whose canonical forms agree within tol.

    Args:
        Ws: a sequence of (n, d) matrices, or an (R, n, d) array or tensor.
        group: ``"SnxSd"`` or ``"Sn"``.
        tol: as for ``isotropy``; canonical forms count as equal when every entry agrees
            within tol * max(1, max|W|).

    Returns:
        ids 0, 1, 2, ... in order of first appearance, one per point.
    """
    check_group(group)
    tol = check_tol(tol)
    reps: list[np.ndarray] = []
    ids = []
    for i, W in enumerate(Ws):  # one search per point: each point's own refinement tree
        A = as_matrix(W, name=f"Ws[{i}]")
        Wc = _relabel(A, *_canonical(A, group, tol))
        hit = next((t for t, R in enumerate(reps) if _same(Wc, R, tol)), None)
        if hit is None:
            reps.append(Wc)
            hit = len(reps) - 1
        ids.append(hit)
    return ids


def same_orbit(W1: object, W2: object, group: Group = "SnxSd", tol: float = 1e-6) -> bool:
    """Whether W2 = g.W1 for some g in ``group``, within tol (see ``group_types``)."""
    return group_types([W1, W2], group, tol) == [0, 0]
