"""Bulk and outliers of a spectrum split at an edge."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope.problems import ReluTeacherStudent
from landscope.spectrum import bulk_outliers


def test_against_a_plain_loop() -> None:
    gen = np.random.default_rng(0)
    for _ in range(20):
        e = gen.normal(size=int(gen.integers(1, 30)))
        edge = float(gen.normal())
        out = [x for x in e.tolist() if x > edge]
        bulk = [x for x in e.tolist() if x <= edge]
        got = bulk_outliers(torch.as_tensor(e), edge)
        assert got.edge == edge and got.n_outliers == len(out)
        assert got.bulk_max == (max(bulk) if bulk else None)
        if out:
            assert got.outlier_mean == pytest.approx(math.fsum(out) / len(out), rel=1e-14)
        else:
            assert got.outlier_mean is None


def test_edge_belongs_to_the_bulk() -> None:
    got = bulk_outliers([0.5, 0.5, 2.0], 0.5)
    assert (got.n_outliers, got.outlier_mean, got.bulk_max) == (1, 2.0, 0.5)
    assert bulk_outliers([[1.0, 3.0]], 0.0).bulk_max is None  # a (1, P) row


@pytest.mark.parametrize("k", [3, 4, 6, 9])
def test_relu_teacher_at_the_global_minimum(k: int) -> None:
    """Arjevani & Field (2020): at W = I the bulk is at most 1/4 + 1/(2 pi) for every k and
    the k + 1 other eigenvalues lie above 1/2."""
    prob = ReluTeacherStudent(k=k)
    ev = torch.linalg.eigvalsh(prob.hessian(torch.eye(k, dtype=torch.float64).reshape(1, -1)))
    got = bulk_outliers(ev[0], 0.5)
    assert got.n_outliers == k + 1
    assert got.bulk_max <= 0.25 + 1 / (2 * math.pi) + 1e-12


@pytest.mark.parametrize(
    ("eigs", "edge", "words"),
    [
        ([1.0, math.nan], 0.5, "NaN or infinite"),
        ([], 0.5, "expected one row"),
        ([[1.0], [2.0]], 0.5, "expected one row"),
        ([1.0], math.inf, "edge must be a finite number"),
    ],
)
def test_errors(eigs, edge, words) -> None:
    with pytest.raises(ValueError, match=words):
        bulk_outliers(eigs, edge)
