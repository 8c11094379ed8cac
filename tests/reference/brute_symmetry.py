"""Brute-force symmetry references: every element of S_n x S_d (or S_n), for n, d <= 5."""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["all_elements", "brute_isotropy", "brute_same_orbit"]


def _perms(m: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(m))), dtype=np.int64).reshape(-1, m)


def all_elements(n: int, d: int, group: str) -> tuple[np.ndarray, np.ndarray]:
    """All (p, q) pairs of the group as two arrays (G, n) and (G, d)."""
    P = _perms(n)
    Q = _perms(d) if group == "SnxSd" else np.arange(d)[None, :]
    p = np.repeat(P, len(Q), axis=0)
    q = np.tile(Q, (len(P), 1))
    return p, q


def _act(W: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """g.W for every element: (g.W)[p[i], q[j]] = W[i, j], shape (G, n, d)."""
    out = np.empty((len(p), *W.shape))
    g = np.arange(len(p))[:, None, None]
    out[g, p[:, :, None], q[:, None, :]] = W[None]
    return out


def brute_isotropy(W: np.ndarray, group: str, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """All (p, q) with W[p[i], q[j]] = W[i, j] within tol * max(1, max|W|)."""
    p, q = all_elements(*W.shape, group)
    atol = tol * max(1.0, np.abs(W).max())
    keep = (np.abs(_act(W, p, q) - W[None]) <= atol).all(axis=(1, 2))
    return p[keep], q[keep]


def brute_same_orbit(W1: np.ndarray, W2: np.ndarray, group: str, tol: float) -> bool:
    """Whether some element g has g.W1 = W2 within tol."""
    if W1.shape != W2.shape:
        return False
    p, q = all_elements(*W1.shape, group)
    atol = tol * max(1.0, np.abs(W1).max(), np.abs(W2).max())
    return bool((np.abs(_act(W1, p, q) - W2[None]) <= atol).all(axis=(1, 2)).any())
