"""Irreducible parts of R^{k x k} under Delta S_k, and the Schur check of multiplicities."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from landscope.problems import ReluTeacherStudent
from landscope.spectrum import eigenvalue_clusters
from landscope.symmetry import delta_sk_dimensions, multiplicities_fit


@pytest.mark.parametrize("k", range(3, 13))
def test_dimensions_fill_the_space(k: int) -> None:
    dims = delta_sk_dimensions(k)
    assert sum(dims) == k * k and all(d > 0 for d in dims)


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_dimensions_against_characters(k: int) -> None:
    """Independent reference: character theory over all k! permutations. W -> P W P' has
    character f(g)^2 (f = fixed points). The candidate characters 1, f - 1,
    f(f-3)/2 + t and (f-1)(f-2)/2 - t (t = 2-cycles) are checked irreducible by
    <chi, chi> = 1; their multiplicities <f^2, chi> times their degrees must give
    exactly the dimensions claimed, and fill k^2 (no part missing)."""
    perms = list(itertools.permutations(range(k)))
    f = np.array([sum(p[i] == i for i in range(k)) for p in perms], dtype=float)
    t = np.array([sum(p[p[i]] == i and p[i] != i for i in range(k)) // 2 for p in perms])
    candidates = [np.ones_like(f), f - 1, f * (f - 3) / 2 + t, (f - 1) * (f - 2) / 2 - t]
    order = len(perms)
    got: Counter = Counter()
    for chi in candidates:
        degree = int(chi[0])  # perms[0] is the identity
        if degree == 0:  # (k-2, 2) does not exist for k = 3
            continue
        assert np.dot(chi, chi) / order == pytest.approx(1.0, abs=1e-12)  # irreducible
        mult = np.dot(f**2, chi) / order
        assert mult == pytest.approx(round(mult), abs=1e-12)
        got[degree] += round(mult)
    assert sum(d * m for d, m in got.items()) == k * k
    assert got == Counter(delta_sk_dimensions(k))


@pytest.mark.parametrize("k", [4, 5, 6, 9, 11])
def test_hessian_at_the_global_minimum_has_the_multiplicities_of_delta_sk(k: int) -> None:
    """At W = I the exact (dense, closed-form) Hessian's eigenvalue multiplicities are sums
    of the Delta S_k-irreducible dimensions, each used once; clustering at 1e-6 (1 + |l|)
    is safe: distinct eigenvalues there are >= 0.01 apart, rounding is ~1e-15."""
    prob = ReluTeacherStudent(k=k)
    ev = torch.linalg.eigvalsh(prob.hessian(torch.eye(k, dtype=torch.float64).reshape(1, -1)))
    mults = [m for _, m in eigenvalue_clusters(ev[0], 1e-6, rtol=1e-6)]
    assert multiplicities_fit(mults, delta_sk_dimensions(k)), mults
    # and a generic point would not: perturbing W breaks the multiplicities
    W = torch.eye(k, dtype=torch.float64) + 0.05 * torch.randn(
        k, k, generator=torch.Generator().manual_seed(k), dtype=torch.float64
    )
    ev2 = torch.linalg.eigvalsh(prob.hessian(W.reshape(1, -1)))[0]
    assert max(m for _, m in eigenvalue_clusters(ev2, 1e-6, rtol=1e-6)) == 1


def _fits_brute_force(mults: list[int], dims: list[int]) -> bool:
    """Every assignment of the parts to the eigenspaces, tried one by one."""
    for labels in itertools.product(range(len(mults)), repeat=len(dims)):
        sums = [0] * len(mults)
        for d, lab in zip(dims, labels, strict=True):
            sums[lab] += d
        if sums == list(mults):
            return True
    return False


def test_multiplicities_fit() -> None:
    dims8 = list(delta_sk_dimensions(8))
    assert multiplicities_fit([28, 20, 7, 7, 1, 1], dims8)  # observed at k = 8
    assert multiplicities_fit(dims8, dims8)
    assert not multiplicities_fit([26, 22, 7, 7, 1, 1], dims8)  # 26: no subset
    assert not multiplicities_fit([64], [60, 3])


def test_multiplicities_fit_against_brute_force() -> None:
    dims = list(delta_sk_dimensions(4))  # 1, 1, 3, 3, 3, 2, 3
    gen = np.random.default_rng(0)
    for _ in range(60):
        n = int(gen.integers(1, 5))
        cut = np.sort(gen.choice(np.arange(1, 16), size=n - 1, replace=False))
        mults = [int(m) for m in np.diff([0, *cut, 16])]
        assert multiplicities_fit(mults, dims) == _fits_brute_force(mults, dims), mults


def test_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be an integer >= 3"):
        delta_sk_dimensions(2)
