"""The 1-D and 2-D Gaussian quadrature rules against exact moments and scipy's quad."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from _tolerances import assert_close
from landscope import gaussian
from landscope.gaussian import quadrature as quad

DT = torch.float64


def double_factorial(k: int) -> int:
    return math.prod(range(k, 0, -2)) if k > 0 else 1


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 1.25, 100.0])
def test_normal_rule_integrates_moments(sigma: float) -> None:
    """E z^(2m) = (2m - 1)!!; odd moments vanish. Rounding of ~1e3..1e5 weights: 1e-13."""
    z, w = quad.normal_rule(sigma, (0.0,))
    assert z.dtype == DT and z.shape == w.shape and bool((w > 0).all())
    got = [float(w @ z**k) for k in range(11)]
    exact = [0.0 if k % 2 else float(double_factorial(k - 1)) for k in range(11)]
    assert_close(got, exact, rtol=1e-13, atol=1e-13, what=f"E z^k, sigma {sigma}")


def test_expectation_splits_at_kinks() -> None:
    # E|z| = sqrt(2/pi) is exact only with the split at the kink 0: at sigma 1.25 the
    # interval [-13, 13] is cut into 65 pieces, so 0 is not a piece edge; E z^6 = 15.
    assert_close(
        gaussian.expectation(torch.abs, 1.25, (0.0,)),
        math.sqrt(2 / math.pi),
        rtol=1e-14,
        atol=0,
        what="E|z|",
    )
    assert_close(gaussian.expectation(lambda z: z**6), 15.0, rtol=1e-13, atol=0, what="E z^6")
    # a kink away from 0, at z = 0.5 / 1.25 = 0.4: E relu(z - 0.4) against scipy quad
    ref, _ = integrate.quad(
        lambda z: (z - 0.4) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi), 0.4, np.inf
    )
    got = gaussian.expectation(lambda z: torch.relu(1.25 * z - 0.5) / 1.25, 1.25, (0.5,))
    assert_close(got, ref, rtol=1e-12, atol=1e-15, what="E relu(z - 0.4)")


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
def test_bad_sigma(bad: float) -> None:
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        gaussian.expectation(torch.abs, bad)


def test_radial_rules_integrate_moments() -> None:
    """sum_r w_r r^k = int_0^inf r^k r e^(-r^2/2) dr / (2 pi) = 2^(k/2) Gamma(k/2 + 1) / (2 pi).

    The composite rule (832 nodes, 16 per piece of 0.25) is exact for these to rounding;
    the Gauss rules built from it (Stieltjes + Golub-Welsch) to 1e-12 for k < 30."""
    r, w = quad.radial_composite()
    assert r.shape == (832,) and float(r.max()) < 13.0
    for k in range(30):
        exact = 2 ** (k / 2) * math.gamma(k / 2 + 1) / (2 * math.pi)
        assert abs(float(w @ r**k) / exact - 1) < 1e-13, ("composite", k)
    for q in (16, 48, 96, 160):
        r, w = gaussian.radial_gauss(q)
        assert bool((w > 0).all()) and r.shape == (q,)
        for k in range(30):
            exact = 2 ** (k / 2) * math.gamma(k / 2 + 1) / (2 * math.pi)
            assert abs(float(w @ r**k) / exact - 1) < 1e-12, (q, k)


def test_angular_rule_is_exact_on_trigonometric_polynomials_split_anywhere() -> None:
    # int_0^{2 pi} cos(m t)^2 dt = pi (m >= 1); with cuts the sum is the same to rounding,
    # and |cos t| (kinks at pi/2, 3 pi/2) is exact only when split there: its integral is 4
    for cuts in ([], [0.3, 2.0, -1.0], [math.pi / 2, 3 * math.pi / 2]):
        t, w = quad.angular_composite(cuts)
        assert abs(float(w.sum()) - 2 * math.pi) < 1e-13
        for m in range(1, 8):
            assert abs(float(w @ torch.cos(m * t) ** 2) - math.pi) < 1e-13, (cuts, m)
    t, w = quad.angular_composite([math.pi / 2, 3 * math.pi / 2])
    assert abs(float(w @ torch.cos(t).abs()) - 4.0) < 1e-13


def test_legendre01() -> None:
    x, w = quad.legendre01(8)
    assert abs(float(w.sum()) - 1) < 1e-15
    # degree <= 15 exactly: int_0^1 x^k dx = 1 / (k + 1)
    for k in range(16):
        assert abs(float(w @ x**k) - 1 / (k + 1)) < 1e-15, k
