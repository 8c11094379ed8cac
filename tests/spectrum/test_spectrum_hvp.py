"""Batched Hessian-vector products (many vectors per row) and the SciPy operator of one row,
against dense reference Hessians from plain autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.spectrum import hvp_operator
from landscope.spectrum._hvp import hvp_many
from reference.spectrum_problems import MatrixProblem, matrix_with_eigenvalues, mlp_case, relu_case

DT = torch.float64
# Closed form (or torch.func forward-over-reverse) against reverse-over-reverse autograd:
# the same float64 quantity summed in a different order; the arccos of the ReLU kernel
# amplifies rounding by up to ~1e2 (see tests/problems/test_relu_teacher.py), hence 1e-10.
AUTOGRAD = {"rtol": 1e-10, "atol": 1e-12}

CASES = {"relu": relu_case, "mlp": mlp_case}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    return CASES[request.param]()


def test_hvp_many_matches_dense_reference(case) -> None:
    prob, theta, H = case
    R, P = theta.shape
    V = torch.randn(R, 5, P, generator=torch.Generator().manual_seed(1), dtype=DT)
    HV = hvp_many(prob, theta, V)
    assert HV.shape == (R, 5, P) and HV.dtype == DT
    assert_close(HV, V @ H, **AUTOGRAD, what="H v for 5 vectors per row")
    # chunks of 2 rows of the tiled (R * 5, P) batch give the same products
    assert_close(hvp_many(prob, theta, V, chunk=2), HV, what="chunk=2")


def test_operator_matvec_and_matmat(case) -> None:
    prob, theta, H = case
    P = theta.shape[1]
    Hr = H[1].numpy()
    op = hvp_operator(prob, theta[1])
    assert op.shape == (P, P) and op.dtype == np.float64
    x = np.random.default_rng(0).standard_normal(P)
    assert_close(op.matvec(x), Hr @ x, **AUTOGRAD, what="matvec")
    assert_close(op.rmatvec(x), Hr @ x, **AUTOGRAD, what="rmatvec (symmetric)")
    X = np.random.default_rng(1).standard_normal((P, 4))
    assert_close(op.matmat(X), Hr @ X, **AUTOGRAD, what="matmat")
    assert_close(op @ X[:, 0], Hr @ X[:, 0], **AUTOGRAD, what="op @ x")
    # a (1, P) row is the same point
    assert_close(hvp_operator(prob, theta[1:2]).matvec(x), op.matvec(x), what="(1, P) row")


def test_operator_refuses_several_rows() -> None:
    prob = MatrixProblem(torch.eye(3, dtype=DT))
    with pytest.raises(ValueError, match=r"^theta_row holds 2 rows; hvp_operator takes one row"):
        hvp_operator(prob, torch.zeros(2, 3, dtype=DT))


def test_tiling_is_one_call_per_chunk() -> None:
    # All R * m products go through problem.hvp together: one call, or one per chunk.
    H = matrix_with_eigenvalues(torch.arange(1.0, 7.0, dtype=DT), seed=0)
    prob = MatrixProblem(H)
    theta = torch.randn(2, 6, generator=torch.Generator().manual_seed(0), dtype=DT)
    V = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(1), dtype=DT)
    HV = hvp_many(prob, theta, V)
    assert prob.calls == [10]
    prob.calls.clear()
    assert_close(hvp_many(prob, theta, V, chunk=3), HV, what="chunk=3")
    assert prob.calls == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="theta has shape"):
        hvp_many(prob, theta[:1], V)
