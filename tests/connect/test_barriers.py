"""Straight-line barriers of many pairs, before and after neuron alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscope.connect import linear_barriers
from landscope.problems import ReluTeacherStudent, init_from_seeds


def _barrier(prob, a: torch.Tensor, b: torch.Tensor, points: int) -> float:
    """The straight-line barrier, point by point (independent of connect/)."""
    vals = [float(prob.loss(((1 - t) * a + t * b)[None])[0]) for t in np.linspace(0, 1, points)]
    return max(vals) - max(vals[0], vals[-1])


def test_against_a_point_by_point_reference() -> None:
    prob = ReluTeacherStudent(k=4)
    A = init_from_seeds(prob, [0, 1, 2])
    B = init_from_seeds(prob, [3, 4, 5])
    got = linear_barriers(prob, A, B, points=17)
    assert got.plain.shape == got.aligned.shape == (3,)
    for i in range(3):
        assert got.plain[i] == pytest.approx(_barrier(prob, A[i], B[i], 17), abs=1e-12)


def test_a_permuted_copy_aligns_to_zero() -> None:
    """B = A with its neurons permuted: the same function, so the aligned segment is the
    single point A (barrier 0), while the plain segment crosses a barrier."""
    prob = ReluTeacherStudent(k=5)
    A = init_from_seeds(prob, [7])
    W = A.reshape(5, 5)
    B = W[torch.tensor([2, 0, 1, 4, 3])].reshape(1, -1)
    got = linear_barriers(prob, A, B)
    assert got.aligned[0] == pytest.approx(0.0, abs=1e-12)
    assert got.plain[0] > 1e-6
    assert got.plain[0] == pytest.approx(_barrier(prob, A[0], B[0], 65), abs=1e-12)


def test_no_pairs_and_errors() -> None:
    prob = ReluTeacherStudent(k=3)
    got = linear_barriers(prob, torch.zeros(0, 9), torch.zeros(0, 9))
    assert got.plain.shape == got.aligned.shape == (0,)
    with pytest.raises(ValueError, match="need the same shape"):
        linear_barriers(prob, torch.zeros(2, 9), torch.zeros(1, 9))
