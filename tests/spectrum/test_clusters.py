"""Eigenvalue clustering against plain loops, and against the rule spurious-spectra used."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.optim import newton_polish
from landscope.problems import ReluTeacherStudent
from landscope.spectrum import eigenvalue_clusters
from reference.eigen_clusters import anchored_clusters, chain_clusters

DT = torch.float64


def _planted(seed: int) -> torch.Tensor:
    """Values with multiplicities, each copy moved by up to 1e-9, in random order."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.cumsum(torch.rand(8, generator=gen, dtype=DT) + 1e-3, 0) - 2.0
    mult = torch.randint(1, 5, (8,), generator=gen)
    e = torch.repeat_interleave(centers, mult)
    e = e + 1e-9 * (2 * torch.rand(e.shape, generator=gen, dtype=DT) - 1)
    return e[torch.randperm(e.numel(), generator=gen)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("tol", "rtol"), [(1e-6, 0.0), (1e-6, 1e-6), (0.0, 1e-3), (0.5, 0.0)])
def test_matches_the_loop_reference(seed: int, tol: float, rtol: float) -> None:
    e = _planted(seed)
    got = eigenvalue_clusters(e, tol, rtol=rtol)
    ref = chain_clusters(e.tolist(), tol, rtol)
    assert [m for _, m in got] == [m for _, m in ref]
    # the cluster mean, summed in another order: a few ulps
    assert_close([v for v, _ in got], [v for v, _ in ref], what="cluster values")
    assert sum(m for _, m in got) == e.numel()
    assert all(a[0] < b[0] for a, b in zip(got, got[1:], strict=False))


def test_planted_multiplicities_are_recovered() -> None:
    e = _planted(0)
    gen = torch.Generator().manual_seed(0)
    centers = torch.cumsum(torch.rand(8, generator=gen, dtype=DT) + 1e-3, 0) - 2.0
    mult = torch.randint(1, 5, (8,), generator=gen)
    got = eigenvalue_clusters(e, 1e-6)
    assert [m for _, m in got] == mult.tolist()
    assert_close([v for v, _ in got], centers, rtol=0, atol=1e-9, what="centers")
    # chains: 0, 0.6, 1.2 are one cluster at tol 0.6 although 0 and 1.2 are 1.2 apart
    assert eigenvalue_clusters([1.2, 0.0, 0.6], 0.6) == ((0.6, 3),)
    assert len(eigenvalue_clusters(e, 0.0)) == e.numel()


def _relu_spectra(relu8_spurious) -> list[np.ndarray]:
    """Exact spectra at symmetric points: W = I for k = 4..11, the k = 8 spurious minima,
    and W = I + noise (no symmetry left)."""
    out = []
    for k in range(4, 12):
        prob = ReluTeacherStudent(k=k)
        out.append(torch.linalg.eigvalsh(prob.hessian(prob.teacher_point()))[0].numpy())
        W = torch.eye(k, dtype=DT) + 0.05 * torch.randn(
            k, k, generator=torch.Generator().manual_seed(k), dtype=DT
        )
        out.append(torch.linalg.eigvalsh(prob.hessian(W.reshape(1, -1)))[0].numpy())
    prob, rows = relu8_spurious
    for H in prob.hessian(newton_polish(prob, rows).theta):
        out.append(torch.linalg.eigvalsh(H).numpy())
    return out


def test_same_multiplicities_as_the_former_spurious_spectra_rule(relu8_spurious) -> None:
    """Numbers do not move: at 1e-6 (1 + |l|) the shared rule (chains, mean) splits the
    spectra spurious-spectra stores exactly as its own rule did (first member)."""
    for ev in _relu_spectra(relu8_spurious):
        new = eigenvalue_clusters(ev, 1e-6, rtol=1e-6)
        old = anchored_clusters(ev.tolist(), 1e-6)
        assert [m for _, m in new] == [m for _, m in old]
        # the representative moved from the first member to the mean: rounding only
        # (members of one cluster agree to ~1e-14 ||H||)
        assert_close([v for v, _ in new], [v for v, _ in old], rtol=0, atol=1e-12, what="values")


@pytest.mark.parametrize(
    ("eigs", "kw", "match"),
    [
        (torch.zeros(2, 3), {}, r"eigs has shape \(2, 3\)"),
        (torch.zeros(0), {}, r"eigs has shape \(0,\)"),
        (torch.tensor([1.0, math.nan]), {}, "NaN or infinite"),
        (torch.tensor([1.0]), {"tol": -1.0}, "tol must be a non-negative number"),
        (torch.tensor([1.0]), {"rtol": math.inf}, "rtol must be a non-negative number"),
        (torch.tensor([1.0]), {"tol": "1e-6"}, "tol must be a non-negative number"),
    ],
)
def test_bad_input_is_one_sentence(eigs, kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        eigenvalue_clusters(eigs, **kw)
