"""Bivariate Gaussian expectations by quadrature: the Fourier rule against tensor
Gauss-Hermite and against the sector rule, row blocks, and the closed-form dispatch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope import gaussian
from landscope.gaussian import bivariate, dual

DT = torch.float64
PI = math.pi


def points(n: int, d: int, seed: int, *, norms: bool = True) -> torch.Tensor:
    """n points in R^d: uniform directions, norms in [0.5, 1.5] unless ``norms=False``."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DT)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
    if norms:
        X = X * (0.5 + torch.rand(n, 1, dtype=DT, generator=g))
    return X


def gauss_hermite(phi, dphi, S: torch.Tensor, q: int = 80) -> tuple:
    """Tensor Gauss-Hermite (q x q nodes) for E[phi phi] and E[phi' phi'], pair by pair."""
    x, w = np.polynomial.hermite_e.hermegauss(q)
    w = w / math.sqrt(2 * PI)
    z1, z2 = torch.from_numpy(x)[:, None], torch.from_numpy(x)[None, :]
    ww = torch.from_numpy(np.outer(w, w))
    n = S.shape[0]
    sig, dot = torch.empty(n, n, dtype=DT), torch.empty(n, n, dtype=DT)
    for i in range(n):
        for j in range(n):
            si, sj = math.sqrt(S[i, i]), math.sqrt(S[j, j])
            c = float(S[i, j]) / (si * sj)
            s = math.sqrt(max(0.0, 1 - c * c))
            u, v = si * z1, sj * (c * z1 + s * z2)
            sig[i, j] = (ww * phi(u) * phi(v)).sum()
            dot[i, j] = (ww * dphi(u) * dphi(v)).sum()
    return sig, dot


def _sigmoid_d(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / math.sqrt(2))


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * z * z) / math.sqrt(2 * PI)


# smooth functions and their derivatives, written here (not the registry's)
SMOOTH = {
    "tanh": (torch.tanh, lambda z: 1 / torch.cosh(z) ** 2),
    "sigmoid": (torch.sigmoid, _sigmoid_d),
    "softplus": (lambda z: torch.logaddexp(z, torch.zeros_like(z)), torch.sigmoid),
    "gelu": (lambda z: z * _normal_cdf(z), lambda z: _normal_cdf(z) + z * _normal_pdf(z)),
    "erf": (torch.erf, lambda z: 2 / math.sqrt(PI) * torch.exp(-z * z)),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_fourier_quadrature_matches_gauss_hermite_at_small_variance(name: str) -> None:
    # at norms <= 0.6 an 80-point Gauss-Hermite tensor rule has converged to ~1e-16 for
    # these entire or strip-analytic integrands: an independent reference
    X = points(5, 3, seed=4) * 0.4
    S = X @ X.T
    phi, dphi = SMOOTH[name]
    sig, dot = gaussian.expectations(phi, dphi, S, method="quadrature")
    gs, gd = gauss_hermite(phi, dphi, S)
    assert_close(sig, gs, rtol=1e-12, atol=1e-13, what=f"{name} phi")
    assert_close(dot, gd, rtol=1e-12, atol=1e-13, what=f"{name} dphi")


@pytest.mark.parametrize("name", ["tanh", "softplus", "gelu", "sigmoid"])
def test_fourier_and_sector_rules_agree(name: str) -> None:
    # two different quadratures (Fourier in angle; Gauss-Legendre on sectors with many
    # nodes) at unit-scale norms: measured ~3e-15 apart
    X = points(6, 4, seed=9)
    S = X @ X.T
    fn = SMOOTH[name][1]
    assert_close(
        bivariate.fourier(fn, S),
        bivariate.sectors(fn, S, angular=48, radial=64),
        rtol=1e-12,
        atol=1e-13,
        what=name,
    )


def test_fourier_coefficients_in_row_blocks_of_different_sample_sizes(monkeypatch) -> None:
    # norms from 0.2 to 6: the rows need from ~20 to ~250 modes. With a tiny working
    # budget each row is its own block, sampled at its own size and zero-padded
    norms = torch.logspace(math.log10(0.2), math.log10(6.0), 8, dtype=DT)
    X = points(8, 3, seed=13, norms=False) * norms[:, None]
    S = X @ X.T
    fn = SMOOTH["tanh"][1]
    whole = bivariate.fourier(fn, S)
    monkeypatch.setattr(bivariate, "_WORK_BYTES", 1)
    # the same rule up to modes below MODE_TOL and FFTs of other lengths: 1e-14 apart
    assert_close(bivariate.fourier(fn, S), whole, rtol=1e-13, atol=1e-14, what="row blocks")


def test_sectors_integrate_kinks_at_zero_exactly() -> None:
    """relu through the sector rule equals the arc-cosine closed form (kinks split at 0)."""
    X = torch.cat([points(6, 3, seed=2), torch.zeros(1, 3, dtype=DT)])
    S = X @ X.T
    step = lambda z: (z > 0).to(z.dtype)  # noqa: E731
    quad = gaussian.expectations(torch.relu, step, S, kinks=(0.0,), method="quadrature")
    closed = gaussian.expectations(torch.relu, step, S, form=dual.relu_dual())
    for q, c, what in zip(quad, closed, ("phi", "phi'"), strict=True):
        assert_close(q, c, rtol=0, atol=1e-13 * float(c.abs().max()), what=what)


def test_dispatch_and_errors(monkeypatch) -> None:
    X = points(5, 3, seed=1)
    S = X @ X.T
    phi, dphi = SMOOTH["erf"]
    form = dual.erf_dual(dual.ERF)
    closed = gaussian.expectations(phi, dphi, S, form=form)
    assert_close(
        gaussian.expectations(phi, dphi, S, form=form, method="quadrature")[0],
        closed[0],
        rtol=0,
        atol=1e-13,
        what="erf by quadrature",
    )
    # blocks of 4 pairs give the same closed-form values as one block
    monkeypatch.setattr(bivariate, "_BLOCK_ELEMS", 4)
    blocked = gaussian.expectations(phi, dphi, S, form=form)
    assert_close(blocked[1], closed[1], what="blocks")
    sig, dot = gaussian.expectations(phi, dphi, S, form=form, phi=False)
    assert sig is None and dot is not None
    with pytest.raises(ValueError, match="needs a closed form"):
        gaussian.expectations(phi, dphi, S, method="closed_form")


def test_radial_nodes_by_scale() -> None:
    assert [bivariate.radial_nodes(s) for s in (0.5, 3.0, 3.1, 10.0, 50.0)] == [
        48,
        48,
        96,
        96,
        160,
    ]
