"""Exact dense spectra against numpy's eigvalsh of reference Hessians, and their summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.problems import ReluTeacherStudent
from landscope.spectrum import dense_spectrum, summarize_spectrum
from reference.spectrum_problems import MatrixProblem, matrix_with_eigenvalues, mlp_case, relu_case

DT = torch.float64


@pytest.mark.parametrize("make", [relu_case, mlp_case], ids=["relu", "mlp"])
def test_dense_spectrum_matches_reference(make) -> None:
    prob, theta, H = make()
    ev = dense_spectrum(prob, theta)
    assert ev.shape == theta.shape and ev.dtype == DT
    ref = np.linalg.eigvalsh(H.numpy())  # LAPACK via numpy, on the autograd Hessian
    # Weyl: eigenvalues move by at most ||dH||_2 <= P max|dH_ij|; the Hessians agree to
    # 1e-10 relative (test_spectrum_hvp), so 1e-9 of the spectral scale is ample.
    scale = float(np.abs(ref).max())
    assert_close(ev, ref, rtol=0, atol=1e-9 * scale, what="eigenvalues")
    assert bool((ev[:, 1:] >= ev[:, :-1]).all()), "each row ascending"
    assert_close(dense_spectrum(prob, theta, chunk=1), ev, what="chunk=1")


def test_refuses_large_p_in_one_sentence() -> None:
    prob = MatrixProblem(torch.eye(10, dtype=DT))
    with pytest.raises(ValueError) as err:
        dense_spectrum(prob, torch.zeros(1, 10, dtype=DT), max_dense=5)
    msg = str(err.value)
    assert msg.startswith("the problem has P = 10 parameters, more than max_dense = 5")
    assert msg.endswith(".") and msg.count(". ") == 0


def test_non_finite_row_is_nan_and_others_unaffected() -> None:
    eigs = torch.tensor([-2.0, 0.5, 1.0, 3.0], dtype=DT)
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=3))
    theta = torch.zeros(3, 4, dtype=DT)
    theta[1, 2] = math.nan
    ev = dense_spectrum(prob, theta)
    assert bool(ev[1].isnan().all())
    for r in (0, 2):
        assert_close(ev[r], eigs, atol=1e-14, what=f"row {r}")


def test_teacher_spectrum_of_k6() -> None:
    # At the teacher the Hessian is invariant under the neuron permutations S_6, so its
    # eigenvalues repeat with the dimensions of S_6's isotypic components; they must add
    # up to P = 36, and the top eigenvalue is the 2.07 quoted in DESIGN.md for k = 6.
    prob = ReluTeacherStudent(k=6)
    ev = dense_spectrum(prob, prob.teacher_point())[0]
    s = summarize_spectrum(ev, tol=1e-8)
    assert s.negative == 0 and s.near_zero == 0 and s.positive == 36
    assert sum(m for _, m in s.distinct) == 36
    assert sorted(m for _, m in s.distinct) == [1, 1, 5, 5, 9, 15]
    assert abs(s.eig_max - 2.07) < 5e-3


def test_summarize_spectrum_counts_and_clusters() -> None:
    ev = torch.tensor([3.0, -1.0, 2.0 + 1e-7, -1e-8, 0.0, 1e-7, 2.0], dtype=DT)
    s = summarize_spectrum(ev, tol=1e-6)
    assert (s.n_params, s.negative, s.near_zero, s.positive) == (7, 1, 3, 3)
    assert (s.eig_min, s.eig_max) == (-1.0, 3.0)
    values = [v for v, _ in s.distinct]
    assert [m for _, m in s.distinct] == [1, 3, 2, 1]
    assert_close(values, [-1.0, (-1e-8 + 1e-7) / 3, 2.0 + 5e-8, 3.0], what="cluster means")
    d = s.as_dict()
    assert d["n_distinct"] == 4 and d["distinct"][1] == {"value": values[1], "multiplicity": 3}
    # tol 0: every different value is its own eigenvalue
    assert len(summarize_spectrum(ev, tol=0.0).distinct) == 7


@pytest.mark.parametrize(
    ("eigs", "tol", "match"),
    [
        (torch.zeros(2, 3), 1e-6, r"eigs has shape \(2, 3\)"),
        (torch.tensor([1.0, math.nan]), 1e-6, "NaN or infinite"),
        (torch.tensor([1.0]), -1.0, "tol must be a non-negative number"),
    ],
)
def test_summarize_spectrum_bad_input(eigs, tol, match) -> None:
    with pytest.raises(ValueError, match=match):
        summarize_spectrum(eigs, tol)
