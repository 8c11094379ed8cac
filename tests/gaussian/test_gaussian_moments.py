"""alpha_{i,j}(sigma) and rho(sigma) on plain callables, against closed forms and scipy quad.

The activation-aware versions (by registry name, every built-in against scipy quad and
Monte Carlo) are tested in tests/activations/test_activation_moments.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from _tolerances import assert_close
from landscope import gaussian

SQRT_2PI = math.sqrt(2 * math.pi)
RELU_RHO = 0.25 - 1 / (2 * math.pi)


def step(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype)


def gauss(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-z * z)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 1.25, 7.0])
def test_step_derivative_is_relu(sigma: float) -> None:
    """phi' = 1{z > 0}: alpha_1j = alpha_2j = 1/2, 1/sqrt(2 pi), 1/2; rho = 1/4 - 1/(2 pi)."""
    got = gaussian.alphas(step, sigma, (0.0,))
    half, m1 = 0.5, 1 / SQRT_2PI
    expected = {(1, 0): half, (1, 1): m1, (1, 2): half, (2, 0): half, (2, 1): m1, (2, 2): half}
    keys = sorted(expected)
    assert_close([got[k] for k in keys], [expected[k] for k in keys], what="alphas")
    assert abs(gaussian.rho(step, sigma, (0.0,)) - RELU_RHO) < 1e-13
    assert gaussian.alpha(step, 1, 2, sigma, (0.0,)) == got[(1, 2)]


@pytest.mark.parametrize("sigma", [0.05, 0.5, 1.0, 3.0])
def test_gaussian_derivative_closed_forms(sigma: float) -> None:
    """phi' = e^(-z^2) (Zhong et al.'s erf): E[z^j e^(-i s^2 z^2)] = (1 + 2 i s^2)^(-(j+1)/2)
    for even j, and alpha_13 = 0; rho = min(a20 - a10^2, a22 - a12^2, a10 a12)."""
    b = sigma**2
    a10, a12 = (1 + 2 * b) ** -0.5, (1 + 2 * b) ** -1.5
    a20, a22 = (1 + 4 * b) ** -0.5, (1 + 4 * b) ** -1.5
    got = gaussian.alphas(gauss, sigma)
    expected = {(1, 0): a10, (1, 1): 0.0, (1, 2): a12, (2, 0): a20, (2, 1): 0.0, (2, 2): a22}
    keys = sorted(expected)
    # entire integrand on a converged grid: rounding only
    assert_close([got[k] for k in keys], [expected[k] for k in keys], rtol=1e-13, atol=1e-15)
    assert abs(gaussian.alpha(gauss, 1, 3, sigma)) < 1e-15
    terms = [a20 - a10**2, a22 - a12**2, a10 * a12]
    assert_close(list(gaussian.rho_terms(gauss, sigma)), terms, rtol=1e-12, atol=1e-15)
    assert gaussian.rho(gauss, sigma) == min(gaussian.rho_terms(gauss, sigma))


def test_kink_away_from_zero_against_quad() -> None:
    """phi' = 1{z > 1/2} at sigma 1.25: the split at z = 0.4 makes alpha_12 exact."""
    sigma = 1.25
    ref, _ = integrate.quad(lambda z: z * z * math.exp(-0.5 * z * z) / SQRT_2PI, 0.4, math.inf)
    got = gaussian.alpha(lambda z: (z > 0.5).to(z.dtype), 1, 2, sigma, (0.5,))
    assert_close(got, ref, rtol=1e-12, atol=1e-15, what="alpha_12")


def test_linear_rho_terms_are_exact_zeros() -> None:
    t1, t2, t3 = gaussian.rho_terms(torch.ones_like, 2.0)
    assert (t1, t2) == (0.0, 0.0) and abs(t3 - 1.0) < 1e-14


@pytest.mark.parametrize(
    "call",
    [
        lambda: gaussian.alpha(gauss, -1, 0, 1.0),
        lambda: gaussian.alpha(gauss, 1, 0.5, 1.0),
        lambda: gaussian.alphas(gauss, 0.0),
        lambda: gaussian.rho(gauss, math.nan),
    ],
)
def test_bad_arguments(call) -> None:
    with pytest.raises(ValueError):
        call()
