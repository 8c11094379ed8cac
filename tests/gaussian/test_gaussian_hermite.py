"""Hermite coefficients on plain callables against closed forms and scipy quad."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, special

from _tolerances import assert_close
from landscope import gaussian

SQRT_2PI = math.sqrt(2 * math.pi)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_erf_coefficients_closed_form(sigma: float) -> None:
    """phi = erf: by Stein's lemma c_1(s) = s E[phi'(s z)] = s (2 / sqrt pi) / sqrt(1 + 2 s^2),
    and c_3(s) = s^3 E[phi'''(s z)] = -s^3 (4 / sqrt pi) (1 + 2 s^2)^(-3/2); even ones vanish."""
    c1 = sigma * 2 / math.sqrt(math.pi) / math.sqrt(1 + 2 * sigma**2)
    c3 = -(sigma**3) * 4 / math.sqrt(math.pi) * (1 + 2 * sigma**2) ** -1.5
    got = [gaussian.coefficient(torch.erf, j, sigma) for j in range(4)]
    assert_close(got, [0.0, c1, 0.0, c3], rtol=1e-13, atol=1e-15, what=f"erf c_j({sigma})")


def test_kinked_coefficients_against_quad() -> None:
    """phi = relu(z - 1/2) at sigma 1.25 (kink at z = 0.4) against scipy quad."""
    s = 1.25
    for j in range(5):
        ref, _ = integrate.quad(
            lambda z, j=j: (
                (s * z - 0.5) * special.eval_hermitenorm(j, z) * math.exp(-0.5 * z * z) / SQRT_2PI
            ),
            0.5 / s,
            math.inf,
            epsabs=1e-13,
        )
        got = gaussian.coefficient(lambda z: torch.relu(z - 0.5), j, s, (0.5,))
        assert_close(got, ref, rtol=1e-11, atol=1e-13, what=f"c_{j}")


def test_nonvanishing_orders() -> None:
    # z^3 = He_3 + 3 He_1; z^2 = He_2 + He_0; relu: c_3 = 0 (only even orders past 1)
    assert gaussian.nonvanishing_orders(lambda z: z**3) == (1, 3)
    assert gaussian.nonvanishing_orders(lambda z: z * z) == (2,)
    assert gaussian.nonvanishing_orders(torch.relu, (0.0,)) == (1, 2, 4)
    assert gaussian.nonvanishing_orders(torch.tanh, max_order=6) == (1, 3, 5)


@pytest.mark.parametrize("j", [-1, 1.5])
def test_bad_order(j) -> None:
    with pytest.raises(ValueError, match="Hermite order must be an integer >= 0"):
        gaussian.coefficient(torch.erf, j, 1.0)
