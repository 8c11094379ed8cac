"""Stochastic Lanczos quadrature against exact spectra, moments and smoothed densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.problems import ReluTeacherStudent
from landscope.spectrum import Density, slq
from reference.spectrum_problems import MatrixProblem, matrix_with_eigenvalues, mlp_case, relu_case

DT = torch.float64
# Statistical bound in standard errors of the mean over probes. Each probe's v' H^p v is a
# skewed variable when a few large eigenvalues carry H^p (a weight tau_k of an isolated
# eigenvalue is ~ chi^2_1 / P), so its standardized mean has heavier tails than the t with
# 29 degrees of freedom; over 100 seeds x 9 checks the largest |z| seen was 4.8.
SE = 6.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _exact_density(eigs: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """1/P sum_i N(t; lambda_i, sigma^2), in a plain loop over eigenvalues."""
    out = torch.zeros_like(grid)
    for lam in eigs.tolist():
        out += torch.exp(-0.5 * ((grid - lam) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return out / eigs.numel()


@pytest.mark.parametrize("make", [relu_case, mlp_case], ids=["relu", "mlp"])
def test_p_steps_give_exact_eigenvalues_as_nodes(make) -> None:
    prob, theta, H = make()
    R, P = theta.shape
    ref = torch.as_tensor(np.linalg.eigvalsh(H.numpy()))  # (R, P)
    d = slq(prob, theta, probes=3, steps=P + 10, generator=_gen(0))  # capped at P
    assert d.nodes.shape == d.weights.shape == (R, 3, P)
    scale = float(ref.abs().max())
    # Lanczos with full reorthogonalization to rounding (~1e-14 ||H||), plus the 1e-10
    # agreement of the HVPs with the autograd Hessian.
    assert_close(d.nodes, ref[:, None, :].expand(R, 3, P), rtol=0, atol=1e-9 * scale)
    assert_close(d.weights.sum(-1), torch.ones(R, 3, dtype=DT), what="weights sum to 1")
    assert bool((d.weights >= 0).all())


def test_repeated_eigenvalues_at_the_teacher() -> None:
    # At the teacher of k = 4 the eigenvalues repeat (S_4 symmetry): each probe's Krylov
    # space is exhausted early and Lanczos restarts; the nodes are still the whole spectrum
    # and the restarted blocks get zero weight.
    prob = ReluTeacherStudent(k=4)
    theta = prob.teacher_point()
    ref = torch.linalg.eigvalsh(prob.hessian(theta))  # (1, 16)
    d = slq(prob, theta, probes=4, steps=16, generator=_gen(1))
    assert_close(d.nodes, ref[:, None, :].expand(1, 4, 16), rtol=0, atol=1e-12)
    distinct = len(set(np.round(ref[0].numpy(), 8)))
    assert distinct < 16
    # weight lives on at most one node per distinct eigenvalue
    assert bool(((d.weights > 1e-12).sum(-1) <= distinct).all())


def test_moments_match_exact_traces_of_powers() -> None:
    eigs = torch.cat([torch.randn(190, generator=_gen(2), dtype=DT), torch.tensor([8.0] * 10)])
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=3))
    theta = torch.zeros(3, 200, dtype=DT)
    d = slq(prob, theta, probes=30, steps=20, generator=_gen(4))
    m0 = d.moments(0)
    assert_close(m0.estimate, torch.ones(3, dtype=DT), what="p = 0: sum of weights")
    assert bool((m0.stderr < 1e-14).all())
    for p in (1, 2, 3):
        exact = float((eigs**p).mean())
        m = d.moments(p)
        assert m.estimate.shape == m.stderr.shape == (3,)
        z = (m.estimate - exact).abs() / m.stderr
        assert bool((z <= SE).all()), (p, z.tolist())


@pytest.mark.parametrize("make", [relu_case, mlp_case], ids=["relu", "mlp"])
def test_moments_on_networks(make) -> None:
    prob, theta, H = make()
    ref = torch.as_tensor(np.linalg.eigvalsh(H.numpy()))
    d = slq(prob, theta, probes=30, steps=6, generator=_gen(5))  # 6 < P: a real quadrature
    for p in (1, 2):
        z = (d.moments(p).estimate - (ref**p).mean(1)).abs() / d.moments(p).stderr
        assert bool((z <= SE).all()), (p, z.tolist())


def test_density_band_and_normalization() -> None:
    eigs = torch.cat([torch.zeros(30, dtype=DT), torch.linspace(0.5, 3.0, 60, dtype=DT)])
    eigs = torch.cat([eigs, torch.tensor([9.0, 12.0], dtype=DT)])
    prob = MatrixProblem(matrix_with_eigenvalues(eigs, seed=6))
    P = eigs.numel()
    d = slq(prob, torch.zeros(2, P, dtype=DT), probes=60, steps=P, generator=_gen(7))
    sigma = 0.2
    grid = torch.linspace(-2.0, 14.0, 801, dtype=DT)
    dens = d.density(grid, sigma)
    assert dens.shape == (2, 801)
    mass = torch.trapezoid(dens, grid, dim=1)
    assert_close(mass, torch.ones(2, dtype=DT), rtol=0, atol=1e-9, what="integrates to 1")
    lo, hi = d.band(grid, sigma)
    assert lo.shape == hi.shape == (2, 801)
    assert bool((lo <= dens).all() and (dens <= hi).all())
    # With steps = P each probe's density has expectation exactly the smoothed spectrum,
    # so the +-2 se band covers it pointwise about 95 % of the time. At every point of the
    # grid at once, +-6 se (3 half-widths) holds it: over 100 seeds the worst point was at
    # 4.9 se, in the far tail beside an isolated eigenvalue (skewed weights, as above).
    exact = _exact_density(eigs, grid, sigma)
    half = (hi - lo) / 2
    assert bool(((dens - exact).abs() <= 3 * half + 1e-12).all())


def test_one_batched_product_per_step() -> None:
    prob = MatrixProblem(matrix_with_eigenvalues(torch.arange(1.0, 21.0, dtype=DT), seed=8))
    slq(prob, torch.zeros(3, 20, dtype=DT), probes=4, steps=7, generator=_gen(0))
    assert prob.calls == [12] * 7


def test_non_finite_row_is_nan_and_others_unaffected() -> None:
    prob = MatrixProblem(matrix_with_eigenvalues(torch.arange(1.0, 7.0, dtype=DT), seed=9))
    theta = torch.zeros(3, 6, dtype=DT)
    theta[2, 0] = math.nan
    d = slq(prob, theta, probes=2, steps=6, generator=_gen(0))
    assert bool(d.nodes[2].isnan().all() and d.weights[2].isnan().all())
    assert_close(d.nodes[:2], torch.arange(1.0, 7.0, dtype=DT).expand(2, 2, 6), atol=1e-13)


def test_support_grid_and_default_sigma() -> None:
    nodes = torch.tensor([[[-1.0, 0.0, 3.0]]], dtype=DT)
    d = Density(nodes=nodes, weights=torch.full_like(nodes, 1 / 3), n_params=3)
    assert d.default_sigma() == pytest.approx(0.04)
    g = d.support(5, sigma=1.0)
    assert_close(g, torch.linspace(-4.0, 6.0, 5, dtype=DT), what="support")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p, t: slq(p, t, probes=0), "probes must be an integer >= 1"),
        (lambda p, t: slq(p, t, steps=1.5), "steps must be an integer >= 1"),
        (lambda p, t: slq(p, t, probes=1, steps=3).band([0.0], 1.0), "a band needs at least 2"),
        (lambda p, t: slq(p, t, steps=3).moments(6), r"p = 6 exceeds 2 \* steps - 1 = 5"),
        (lambda p, t: slq(p, t, steps=3).density([0.0], 0.0), "sigma must be a positive"),
        (lambda p, t: slq(p, t, steps=3).density([[0.0]], 1.0), "expected a non-empty 1-D grid"),
    ],
)
def test_slq_bad_input(call, match) -> None:
    prob = MatrixProblem(torch.eye(8, dtype=DT))
    with pytest.raises(ValueError, match=match):
        call(prob, torch.zeros(1, 8, dtype=DT))
