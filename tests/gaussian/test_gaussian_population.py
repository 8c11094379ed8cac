"""Population Hessian blocks on plain callables: the wedge closed form against quadrature,
the kink split, and the callable API against the activation-aware wrappers.

The statistical checks (Monte Carlo, large-sample Hessians, Zhong et al.'s bound) run
through the wrappers in tests/activations/test_activation_population.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from _tolerances import assert_close
from landscope import activations as acts
from landscope import gaussian
from landscope.activations.dual import relu_slope

DT = torch.float64
# Closed form vs quadrature: exact up to rounding of ~7e5 weighted terms (the angle is
# split at the kinks, leaving trigonometric polynomials on each piece): 1e-12 absolute.
QUAD = {"rtol": 0.0, "atol": 1e-12}


def step(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype)


def pairs(d: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, generator=g, dtype=DT)
    b = 0.3 * torch.randn(d, generator=g, dtype=DT)
    e = torch.randn(d, generator=g, dtype=DT)
    return [(a, b), (a, 2 * a), (a, -a), (a, a + 1e-7 * e), (a, e - (e @ a) / (a @ a) * a)]


SLOPE = 0.3


def leaky(z: torch.Tensor) -> torch.Tensor:
    return SLOPE + (1 - SLOPE) * step(z)


@pytest.mark.parametrize("d", [2, 4])
def test_wedge_against_quadrature_split_at_zero(d: int) -> None:
    for a, b in pairs(d, seed=d):
        closed = gaussian.wedge(a, b)
        quad = gaussian.pair_moment(step, a, b, kinks=(0.0,))
        assert closed.shape == (d, d)
        assert_close(closed, quad, **QUAD, what=f"d={d}")
        assert_close(
            gaussian.pair_moment(leaky, a, b, relu_slope=SLOPE),
            gaussian.pair_moment(leaky, a, b, kinks=(0.0,)),
            **QUAD,
            what=f"leaky d={d}",
        )


def test_wedge_quarter_plane() -> None:
    """Orthogonal unit vectors: E[x1^2 1 1] = 1/4, E[x1 x2 1 1] = 1/(2 pi), E[x3^2 1 1] = 1/4."""
    eye = torch.eye(3, dtype=DT)
    expected = torch.tensor(
        [[0.25, 1 / (2 * math.pi), 0], [1 / (2 * math.pi), 0.25, 0], [0, 0, 0.25]], dtype=DT
    )
    assert_close(gaussian.wedge(eye[0], eye[1]), expected, what="quarter plane")


def test_without_the_split_the_kink_costs_accuracy() -> None:
    """The kink list is what makes the quadrature exact: unsplit, the error is visible."""
    a, b = pairs(3, seed=1)[0]
    exact = gaussian.wedge(a, b)
    unsplit = gaussian.pair_moment(step, a, b)
    assert float((unsplit - exact).abs().max()) > 1e-8


def test_smooth_one_dimensional_block() -> None:
    """d = 1: E[phi'(a x) phi'(b x) x^2] with phi' = e^(-z^2):
    E[x^2 e^(-(a^2 + b^2) x^2)] = (1 + 2 (a^2 + b^2))^(-3/2)."""
    a, b = torch.tensor([0.7], dtype=DT), torch.tensor([-1.3], dtype=DT)
    got = gaussian.pair_moment(lambda z: torch.exp(-z * z), a, b)
    exact = (1 + 2 * (0.49 + 1.69)) ** -1.5
    assert_close(got, torch.tensor([[exact]], dtype=DT), rtol=1e-13, atol=0, what="d = 1")


@pytest.mark.parametrize("name", ["relu", "leaky_relu:0.2", "tanh", "squared_relu"])
def test_wrappers_pass_the_activation_on(name: str) -> None:
    """The activation-aware functions are the callable ones with phi', kinks and slope."""
    g = torch.Generator().manual_seed(5)
    W = torch.randn(3, 4, generator=g, dtype=DT)
    v = torch.tensor([1.0, -2.0, 0.5], dtype=DT)
    act = acts.get(name)
    slope = relu_slope(act)
    assert (slope is not None) == (name in ("relu", "leaky_relu:0.2"))
    H = gaussian.population_hessian(W, v, act.dphi, kinks=act.kinks, relu_slope=slope)
    assert torch.equal(acts.population_hessian(W, v, name), H)
    lc = gaussian.local_convexity(W, v, act.dphi, kinks=act.kinks, relu_slope=slope)
    assert acts.local_convexity(W, v, name) == lc
