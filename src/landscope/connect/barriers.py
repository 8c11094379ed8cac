"""Straight-line barriers between many pairs of points, before and after neuron alignment.

The linear barrier of a pair (A, B) is

    max_t f((1 - t) A + t B) - max(f(A), f(B)),   t at ``points`` equally spaced values,

(``linear_paths``). Entezari et al. (ICLR 2022) argue that most of it between two minima
is a permutation of hidden units: the barrier to B with its units permuted to match A's
(``align_rows``, weight matching) is much lower. ``linear_barriers`` gives both for N
pairs, all 2N segments in one batched ``linear_paths`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..problems import Problem
from .align import align_rows
from .interpolate import linear_paths

__all__ = ["LinearBarriers", "linear_barriers"]


@dataclass(frozen=True)
class LinearBarriers:
    """Straight-line barriers of N pairs (A_i, B_i).

    Attributes:
        plain: (N,) the barrier from A_i to B_i.
        aligned: (N,) the barrier from A_i to B_i with B_i's hidden units permuted to
            match A_i's (the same function, so the same endpoint loss).
    """

    plain: np.ndarray
    aligned: np.ndarray


def linear_barriers(
    problem: Problem,
    thetas_a: object,
    thetas_b: object,
    *,
    points: int = 65,
) -> LinearBarriers:
    """The straight-line barrier of each pair, as is and with B aligned to A.

    Args:
        problem: a problem ``align_rows`` can align (a neuron-permutation ``symmetry``,
            or a Sequential ``ModuleLoss``).
        thetas_a: (N, P) first points (N may be 0).
        thetas_b: (N, P) second points; each is aligned to its A.
        points: sample points per segment, ends included (>= 2).

    Returns:
        LinearBarriers with (N,) float64 arrays.

    Raises:
        ValueError: for shapes that differ, NaN or infinity, points < 2, or a problem
            ``align_rows`` does not handle.
    """
    A, B = problem.as_batch(thetas_a), problem.as_batch(thetas_b)
    if A.shape != B.shape:
        raise ValueError(
            f"thetas_a {tuple(A.shape)} and thetas_b {tuple(B.shape)} need the same shape."
        )
    N = A.shape[0]
    if N == 0:
        return LinearBarriers(plain=np.zeros(0), aligned=np.zeros(0))
    B_aligned = torch.stack([align_rows(problem, A[i], B[i]) for i in range(N)])
    paths = linear_paths(problem, torch.cat([A, A]), torch.cat([B, B_aligned]), points=points)
    bars = np.array([p.barrier for p in paths], dtype=np.float64)
    return LinearBarriers(plain=bars[:N], aligned=bars[N:])
