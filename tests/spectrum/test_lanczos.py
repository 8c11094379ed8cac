"""Lanczos: ARPACK's extreme eigenpairs and the batched torch Lanczos, against dense eigh."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.spectrum import extremal_eigs, lanczos
from landscope.spectrum.lanczos import tridiagonal
from reference.spectrum_problems import MatrixProblem, matrix_with_eigenvalues, mlp_case, relu_case

DT = torch.float64
# ARPACK at tol = 0 converges to machine precision: the pair's residual is ~eps ||H||, so
# each Ritz value is within ~1e-15 ||H|| of an eigenvalue of the operator; the operator
# (HVP) and the reference Hessian (autograd) agree to ~1e-10 relative, so 1e-8 leaves
# margin on both.
LANCZOS = 1e-8
# Rounding in the computed residual itself: ||dHu|| ~ eps sqrt(P) ||H||.
ROUNDING = 1e-13


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("make", [relu_case, mlp_case], ids=["relu", "mlp"])
def test_extremal_matches_dense_eigh_and_bounds_hold(make) -> None:
    prob, theta, H = make()
    ref = np.linalg.eigvalsh(H.numpy())  # (R, P) ascending
    scale = float(np.abs(ref).max())
    k = 4
    ext = extremal_eigs(prob, theta, k=k, generator=_gen(0))
    R = theta.shape[0]
    assert ext.largest.shape == ext.smallest.shape == (R, k)
    assert ext.residuals.shape == ext.bounds.shape == ext.converged.shape == (R, 2 * k)
    assert bool(ext.converged.all())
    assert_close(ext.largest, ref[:, ::-1][:, :k].copy(), rtol=0, atol=LANCZOS * scale)
    assert_close(ext.smallest, ref[:, :k], rtol=0, atol=LANCZOS * scale)
    # The residual bound: every computed value has a true eigenvalue within its bound.
    vals = ext.values.numpy()
    gap = np.abs(vals[:, :, None] - ref[:, None, :]).min(-1)
    assert bool((gap <= ext.bounds.numpy() + ROUNDING * scale).all()), (gap, ext.bounds)
    lo, hi = ext.intervals()
    assert bool((lo <= ext.values).all() and (ext.values <= hi).all())
    assert bool((ext.bounds <= 1e-10 * scale).all()), "converged pairs have tiny residuals"


def test_loose_tolerance_bound_still_contains_eigenvalue() -> None:
    # With tol = 1e-3 ARPACK stops early; the residual bound is rigorous all the same.
    eigs = torch.linspace(-1.0, 1.0, 120, dtype=DT) ** 3
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=1))
    theta = torch.zeros(1, 120, dtype=DT)
    ext = extremal_eigs(prob, theta, k=3, which="largest", tol=1e-3, generator=_gen(1))
    assert ext.smallest is None and ext.largest.shape == (1, 3)
    gap = (ext.values[0, :, None] - eigs[None, :]).abs().min(-1).values
    assert bool((gap <= ext.bounds[0] + ROUNDING).all())


def test_which_and_order() -> None:
    eigs = torch.tensor([-3.0, -2.0, -1.0, 0.5, 1.0, 4.0, 5.0, 6.0], dtype=DT)
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=2))
    theta = torch.zeros(2, 8, dtype=DT)
    big = extremal_eigs(prob, theta, k=2, which="largest", generator=_gen(0))
    small = extremal_eigs(prob, theta, k=2, which="smallest", generator=_gen(0))
    assert small.largest is None and big.smallest is None
    expect_big = torch.tensor([[6.0, 5.0]] * 2, dtype=DT)
    expect_small = torch.tensor([[-3.0, -2.0]] * 2, dtype=DT)
    assert_close(big.largest, expect_big, atol=1e-12, what="descending")
    assert_close(small.smallest, expect_small, atol=1e-12, what="ascending")
    assert big.values.shape == big.bounds.shape == (2, 2)


def test_non_finite_row_is_nan_and_others_unaffected() -> None:
    eigs = torch.arange(1.0, 9.0, dtype=DT)
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=4))
    theta = torch.zeros(3, 8, dtype=DT)
    theta[0, 0] = math.inf
    ext = extremal_eigs(prob, theta, k=2, generator=_gen(0))
    assert bool(ext.values[0].isnan().all() and ext.bounds[0].isnan().all())
    assert_close(ext.largest[1:], torch.tensor([[8.0, 7.0]] * 2, dtype=DT), atol=1e-12)
    assert_close(ext.smallest[1:], torch.tensor([[1.0, 2.0]] * 2, dtype=DT), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 8}, r"k = 8 eigenvalues at one end need k < P = 8"),
        ({"k": 0}, "k must be a positive integer"),
        ({"which": "top"}, "unknown which 'top'"),
        ({"tol": -1.0}, "tol must be a non-negative number"),
        ({"chunk": 0}, "chunk must be a positive integer"),
    ],
)
def test_extremal_bad_input(kwargs, match) -> None:
    prob = MatrixProblem(torch.eye(8, dtype=DT))
    with pytest.raises(ValueError, match=match):
        extremal_eigs(prob, torch.zeros(1, 8, dtype=DT), **kwargs)


# ------------------------------------------------------------------ batched torch Lanczos
def _run(H: torch.Tensor, v0: torch.Tensor, steps: int):
    alpha, beta = lanczos(lambda X: X @ H, v0, steps)
    return torch.linalg.eigvalsh(tridiagonal(alpha, beta)), alpha, beta


@pytest.mark.parametrize(
    "eigs",
    [
        torch.linspace(-2.0, 3.0, 30, dtype=DT),  # distinct
        # repeated: Krylov spaces of dimension 4 only, so every start breaks down and
        # restarts; with steps = P the restarts still cover the whole space
        torch.tensor([-1.0] * 10 + [0.0] * 5 + [2.0] * 10 + [7.0] * 5, dtype=DT),
    ],
    ids=["distinct", "repeated"],
)
def test_lanczos_with_p_steps_gives_the_whole_spectrum(eigs) -> None:
    H = matrix_with_eigenvalues(eigs, seed=5)
    v0 = torch.randn(6, 30, generator=_gen(6), dtype=DT)
    nodes, alpha, beta = _run(H, v0, steps=50)  # capped at P = 30
    assert alpha.shape == (6, 30) and beta.shape == (6, 29)
    if len(set(eigs.tolist())) < 30:  # the restarts happened: T split into blocks
        assert bool((beta == 0).any(dim=1).all())
    # Full reorthogonalization keeps T orthogonally similar to H up to rounding.
    assert_close(nodes, eigs.expand(6, -1), rtol=0, atol=1e-12 * 7, what="nodes")


def test_lanczos_restarts_at_an_eigenvector_start() -> None:
    eigs = torch.arange(1.0, 7.0, dtype=DT)
    H = matrix_with_eigenvalues(eigs, seed=7)
    U = torch.linalg.eigh(H).eigenvectors
    v0 = torch.stack([U[:, 2], torch.ones(6, dtype=DT)])
    nodes, alpha, beta = _run(H, v0, steps=6)
    assert float(beta[0, 0]) == 0.0, "an eigenvector start exhausts its Krylov space at once"
    assert abs(float(alpha[0, 0]) - 3.0) < 1e-14
    assert_close(nodes, eigs.expand(2, -1), rtol=0, atol=1e-13, what="nodes after restarts")


def test_lanczos_rows_are_independent_of_each_other() -> None:
    eigs = torch.linspace(0.0, 1.0, 12, dtype=DT)
    H = matrix_with_eigenvalues(eigs, seed=8)
    v0 = torch.randn(3, 12, generator=_gen(9), dtype=DT)
    _, a_all, b_all = _run(H, v0, steps=5)
    _, a_one, b_one = _run(H, v0[1:2], steps=5)
    assert_close(a_all[1:2], a_one, what="alpha")
    assert_close(b_all[1:2], b_one, what="beta")
