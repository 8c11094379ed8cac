"""Closed-form dual kernels against independent references: tensor Gauss-Hermite on numpy
and scipy.special.erf, Monte Carlo, and the literal formulas of the papers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special

from _tolerances import assert_close
from landscope.gaussian import dual

DT = torch.float64

# name -> (preset, phi, phi') with phi = A erf(beta z), written with scipy / numpy
ERFS = {
    "erf": (dual.ERF, special.erf, lambda z: 2 / np.sqrt(np.pi) * np.exp(-z * z)),
    "erf_sqrt2": (
        dual.ERF_SQRT2,
        lambda z: special.erf(z / np.sqrt(2)),
        lambda z: np.sqrt(2 / np.pi) * np.exp(-z * z / 2),
    ),
    "erf_zhong": (
        dual.ERF_ZHONG,
        lambda z: np.sqrt(np.pi) / 2 * special.erf(z),
        lambda z: np.exp(-z * z),
    ),
}


def points(seed: int, n: int = 5, scale: float = 1.0) -> torch.Tensor:
    """n points of varied norms in R^3, then a zero point and a parallel copy."""
    g = torch.Generator().manual_seed(seed)
    X = scale * torch.randn(n, 3, generator=g, dtype=DT)
    return torch.cat([X, torch.zeros(1, 3, dtype=DT), 2 * X[:1]])


def covariance(seed: int, n: int = 5, scale: float = 1.0) -> torch.Tensor:
    """S = X X' of ``points``: u_i = x_i . w, w ~ N(0, I_3), has covariance S."""
    X = points(seed, n, scale)
    return X @ X.T


def gauss_hermite(phi, S: np.ndarray, q: int = 120) -> np.ndarray:
    """E[phi(u) phi(v)] pair by pair by a q x q Gauss-Hermite tensor rule (numpy)."""
    x, w = np.polynomial.hermite_e.hermegauss(q)
    w = w / math.sqrt(2 * math.pi)
    ww = np.outer(w, w)
    n = S.shape[0]
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            si, sj = math.sqrt(S[i, i]), math.sqrt(S[j, j])
            c = S[i, j] / (si * sj) if si * sj > 0 else 0.0
            c = min(1.0, max(-1.0, c))
            s = math.sqrt(max(0.0, 1 - c * c))
            u = si * x[:, None] + 0 * x[None, :]
            v = sj * (c * x[:, None] + s * x[None, :])
            out[i, j] = (ww * phi(u) * phi(v)).sum()
    return out


def apply(form, S: torch.Tensor):
    v = torch.diagonal(S)
    return form(S, v, v, True, True)


@pytest.mark.parametrize("name", sorted(ERFS))
def test_erf_family_against_gauss_hermite(name: str) -> None:
    """At variances <= ~4 a 120-point Gauss-Hermite tensor rule on scipy's erf has converged
    to ~1e-15 for these entire integrands: an implementation-independent reference."""
    preset, phi, dphi = ERFS[name]
    S = covariance(3, scale=0.7)
    sig, dot = apply(dual.erf_dual(preset), S)
    Sn = S.numpy()
    assert_close(sig, gauss_hermite(phi, Sn), rtol=1e-12, atol=1e-14, what=f"{name} phi")
    assert_close(dot, gauss_hermite(dphi, Sn), rtol=1e-12, atol=1e-14, what=f"{name} phi'")


def test_erf_is_the_arcsine_kernel_of_erf_z() -> None:
    """E[erf(u) erf(v)] = (2/pi) arcsin(2 c / sqrt((1 + 2 a)(1 + 2 b))) and
    E[erf'(u) erf'(v)] = (4/pi) / sqrt((1 + 2 a)(1 + 2 b) - 4 c^2) (a, b variances, c the
    covariance; Williams 1997 with the input scaled by sqrt 2)."""
    S = covariance(4, scale=1.3).numpy()
    a = np.diag(S)
    dd = np.outer(1 + 2 * a, 1 + 2 * a)
    sig = 2 / np.pi * np.arcsin(np.clip(2 * S / np.sqrt(dd), -1, 1))
    dot = 4 / np.pi / np.sqrt(dd - 4 * S * S)
    got_sig, got_dot = apply(dual.erf_dual(dual.ERF), torch.from_numpy(S))
    assert_close(got_sig, sig, what="E[erf erf]")
    assert_close(got_dot, dot, what="E[erf' erf']")


def test_erf_scalings_relate_exactly() -> None:
    """erf_zhong = (sqrt(pi) / 2) erf: its kernels are pi / 4 times erf's; erf_sqrt2 at S
    is erf at S / 2 (and phi' scales by 1 / sqrt 2, so E[phi' phi'] by 1 / 2)."""
    S = covariance(5)
    e_sig, e_dot = apply(dual.erf_dual(dual.ERF), S)
    z_sig, z_dot = apply(dual.erf_dual(dual.ERF_ZHONG), S)
    assert_close(z_sig, math.pi / 4 * e_sig, what="zhong phi")
    assert_close(z_dot, math.pi / 4 * e_dot, what="zhong phi'")
    s_sig, s_dot = apply(dual.erf_dual(dual.ERF_SQRT2), S)
    h_sig, h_dot = apply(dual.erf_dual(dual.ERF), S / 2)
    assert_close(s_sig, h_sig, what="sqrt2 phi")
    assert_close(s_dot, h_dot / 2, what="sqrt2 phi'")


FORMS = {
    "relu": (dual.relu_dual(), torch.relu, lambda z: (z > 0).to(DT)),
    "leaky_relu:0.2": (
        dual.relu_dual(0.2),
        lambda z: torch.where(z > 0, z, 0.2 * z),
        lambda z: 0.2 + 0.8 * (z > 0).to(DT),
    ),
    "squared_relu": (
        dual.squared_relu_dual,
        lambda z: torch.relu(z) ** 2,
        lambda z: 2 * torch.relu(z),
    ),
    "erf": (
        dual.erf_dual(dual.ERF),
        torch.erf,
        lambda z: 2 / math.sqrt(math.pi) * torch.exp(-z * z),
    ),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_closed_forms_against_monte_carlo(name: str) -> None:
    """Every form against 2e5 Gaussian pairs drawn from S, 6 standard errors per entry."""
    form, phi, dphi = FORMS[name]
    X = points(6)
    S = X @ X.T
    g = torch.Generator().manual_seed(7)
    U = torch.randn(200_000, 3, generator=g, dtype=DT) @ X.T  # (m, n): rows ~ N(0, S)
    sig, dot = apply(form, S)
    for f, exact, what in ((phi, sig, "phi"), (dphi, dot, "phi'")):
        F = f(U)
        terms = F[:, :, None] * F[:, None, :]
        mean, se = terms.mean(0), terms.std(0) / math.sqrt(U.shape[0])
        # the atol covers entries of the zero point, whose terms are constant (zero spread):
        # the mean of 2e5 equal numbers is that number up to rounding
        assert_close(mean, exact, rtol=0, atol=6 * se.numpy() + 1e-12, what=f"{name} {what}")


@pytest.mark.parametrize("name", sorted(FORMS))
def test_only_what_is_asked_is_computed(name: str) -> None:
    form = FORMS[name][0]
    S = covariance(8)
    v = torch.diagonal(S)
    sig, dot = form(S, v, v, True, False)
    assert sig is not None and dot is None
    sig2, dot2 = form(S, v, v, False, True)
    assert sig2 is None and dot2 is not None
