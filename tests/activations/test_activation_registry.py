"""The activation registry: names, lookup errors, leaky slopes, user activations, and
phi' / phi'' of every built-in against torch autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special

from _tolerances import assert_close
from landscope import activations as acts

BUILTINS = [n for n in acts.names() if acts.get(n).builtin]


def autograd_derivative(f, z: torch.Tensor) -> torch.Tensor:
    """d/dz of the elementwise f at z by reverse mode (0 where f does not depend on z)."""
    x = z.detach().clone().requires_grad_(True)
    y = f(x)
    if not y.requires_grad:  # e.g. relu' = (z > 0): piecewise constant, derivative 0
        return torch.zeros_like(z)
    (g,) = torch.autograd.grad(y.sum(), x)
    return g


def grid_off_kinks(kinks: tuple[float, ...]) -> torch.Tensor:
    """241 points on [-6, 6] (step 0.05), minus those within 1e-3 of a kink."""
    z = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64)
    keep = torch.ones_like(z, dtype=torch.bool)
    for k in kinks:
        keep &= (z - k).abs() > 1e-3
    return z[keep]


def test_builtins_are_the_documented_twelve() -> None:
    assert BUILTINS == [
        "relu",
        "leaky_relu",
        "squared_relu",
        "tanh",
        "sigmoid",
        "erf",
        "erf_sqrt2",
        "erf_zhong",
        "softplus",
        "gelu",
        "linear",
        "quadratic",
    ]


@pytest.mark.parametrize("name", acts.names())
def test_every_name_resolves(name: str) -> None:
    act = acts.get(name)
    assert isinstance(act, acts.Activation)
    assert act.name == name
    assert acts.get(act) is act  # an Activation passes through unchanged


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        acts.get("nope")
    message = str(info.value)
    for name in acts.names():
        assert name in message


def test_leaky_relu_slope_from_name() -> None:
    act = acts.get("leaky_relu:0.2")
    assert act.name == "leaky_relu:0.2"
    z = torch.tensor([-1.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    # Exact: 0.2 * -1.0 rounds to the same double as the literal -0.2.
    assert act.phi(z).tolist() == [-0.2, -0.1, 0.5, 2.0]
    assert act.dphi(z).tolist() == [0.2, 0.2, 1.0, 1.0]
    assert acts.get("leaky_relu").phi(torch.tensor([-1.0], dtype=torch.float64)).item() == -0.01


@pytest.mark.parametrize("text", ["abc", "1.5", "1", "-0.1", "nan", "inf", ""])
def test_leaky_relu_bad_slope(text: str) -> None:
    with pytest.raises(ValueError, match="slope"):
        acts.get(f"leaky_relu:{text}")


def test_softplus_sharpness_from_name() -> None:
    act = acts.get("softplus:4")
    assert act.name == "softplus:4"
    assert acts.get("softplus:1").name == "softplus"
    z = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0], dtype=torch.float64)
    expected = torch.log1p(torch.exp(4 * z)) / 4
    assert_close(act.phi(z), expected, rtol=1e-15, atol=0, what="softplus:4")
    # log(1 + e^(b z)) / b - relu(z) lies in (0, log(2) / b], the maximum at z = 0; in
    # floating point the gap at large z is z(1 + eps) - z, so >= -1 ulp of 5
    zz = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    for beta in (1.0, 4.0, 50.0):
        gap = acts.get(f"softplus:{beta:g}").phi(zz) - torch.relu(zz)
        assert float(gap.min()) >= -1e-15
        assert abs(float(gap.max()) - math.log(2) / beta) < 1e-15


@pytest.mark.parametrize("text", ["abc", "0", "-1", "nan", "inf", "1e4", ""])
def test_softplus_bad_sharpness(text: str) -> None:
    with pytest.raises(ValueError, match="beta"):
        acts.get(f"softplus:{text}")


def _softsign_phi(z: torch.Tensor) -> torch.Tensor:
    return z / (1 + z.abs())


def _softsign_dphi(z: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + z.abs()) ** 2


def test_register_user_activation_then_unregister() -> None:
    assert "softsign" not in acts.names()
    try:
        # phi'' = -2 sign(z) / (1 + |z|)^3 jumps from +2 to -2 at 0: a kink for quadrature.
        act = acts.register("softsign", _softsign_phi, _softsign_dphi, kinks=(0.0,))
        assert acts.names()[-1] == "softsign"
        assert acts.get("softsign") is act
        assert not act.builtin
        assert act.kinks == (0.0,)
        z = grid_off_kinks((0.0,))
        # phi'' comes from autograd of phi' (no ddphi given); against the analytic form
        # the only difference is rounding in pow's backward, a few ulps of O(1) values.
        assert_close(
            act.ddphi(z),
            -2 * torch.sign(z) / (1 + z.abs()) ** 3,
            rtol=1e-12,
            atol=1e-15,
            what="softsign phi''",
        )
        # And the given phi' is the derivative of phi (same rounding argument).
        assert_close(
            act.dphi(z), autograd_derivative(act.phi, z), rtol=1e-12, atol=1e-15, what="phi'"
        )
    finally:
        acts.unregister("softsign")
    assert "softsign" not in acts.names()
    with pytest.raises(ValueError, match="unknown activation"):
        acts.get("softsign")


@pytest.mark.parametrize("name", ["relu", "tanh", "quadratic"])
def test_builtin_cannot_be_replaced_or_removed(name: str) -> None:
    before = acts.get(name)
    with pytest.raises(ValueError, match="built-in"):
        acts.register(name, torch.sin, torch.cos)
    acts.unregister(name)  # built-ins stay
    assert acts.get(name) is before
    assert acts.names() == BUILTINS


@pytest.mark.parametrize(
    ("name", "phi", "dphi"),
    [
        ("", torch.sin, torch.cos),
        ("  ", torch.sin, torch.cos),
        ("a:b", torch.sin, torch.cos),
        ("sine", "sin", torch.cos),
        ("sine", torch.sin, None),
    ],
)
def test_register_rejects_bad_input(name, phi, dphi) -> None:
    with pytest.raises(ValueError):
        acts.register(name, phi, dphi)
    assert acts.names() == BUILTINS


@pytest.mark.parametrize("name", [*BUILTINS, "leaky_relu:0.2", "softplus:4"])
def test_derivatives_match_autograd(name: str) -> None:
    act = acts.get(name)
    z = grid_off_kinks(act.kinks)
    # Both sides evaluate the same derivative by different float64 formulas (closed form
    # vs the chain rule through torch's backward), so they differ by rounding only: a few
    # ulps relative, plus ~1e-16 absolute where phi' or phi'' passes through 0 (tanh'' at
    # 0, gelu'' at sqrt 2, tanh' ~ 2.5e-5 at |z| = 6, where 1 - tanh^2 cancels). Measured
    # worst: 2.2e-16 absolute, 5e-14 relative on entries above 1e-3.
    assert_close(act.dphi(z), autograd_derivative(act.phi, z), rtol=1e-12, atol=1e-15, what="phi'")
    assert_close(
        act.ddphi(z), autograd_derivative(act.dphi, z), rtol=1e-12, atol=1e-15, what="phi''"
    )


@pytest.mark.parametrize("name", BUILTINS)
def test_kinks_are_exactly_where_derivatives_jump(name: str) -> None:
    """Each declared kink is a jump of phi' or phi''; between kinks both are continuous.

    Quadrature splits only at declared kinks, so a missing one would cost accuracy.
    """
    act = acts.get(name)
    for k in act.kinks:
        at = torch.tensor([k - 1e-9, k + 1e-9], dtype=torch.float64)
        jumps = [abs(float(f(at).diff())) for f in (act.dphi, act.ddphi)]
        assert max(jumps) > 0.5, f"{name}: no jump at declared kink {k}"
    # On the 0.05-step grid a continuous phi' (or phi'') moves by at most 0.05 times the
    # largest |next derivative|, which is <= 4 / sqrt(pi) = 2.26 for every built-in (2 for
    # squared_relu and quadratic, 2 for the third derivative of tanh at 0, 4 / sqrt(pi) for
    # that of erf at 0): steps <= 0.12. The smallest real jump is leaky_relu's 0.99; the
    # threshold 0.5 sits between the two.
    pieces = [grid_off_kinks(act.kinks)]
    for k in act.kinks:
        pieces = [p for q in pieces for p in (q[q < k], q[q > k])]
    for p in pieces:
        assert len(p) > 1
        assert float(act.dphi(p).diff().abs().max()) < 0.5, name
        assert float(act.ddphi(p).diff().abs().max()) < 0.5, name


# The three error functions against scipy.special.erf (an independent implementation):
# name -> (A, beta) in phi(z) = A erf(beta z).
ERFS = {
    "erf": (1.0, 1.0),  # torch.erf, scipy.special.erf, neural-tangents' Erf
    "erf_sqrt2": (1.0, 1 / math.sqrt(2)),
    "erf_zhong": (math.sqrt(math.pi) / 2, 1.0),  # Zhong et al. 2017: phi' = e^(-z^2)
}


@pytest.mark.parametrize("name", sorted(ERFS))
def test_erf_family_against_scipy(name: str) -> None:
    """phi = A erf(beta z), phi' = A beta (2 / sqrt pi) e^(-beta^2 z^2) and its derivative,
    from scipy.special.erf and the written-out derivatives (float64 rounding: 1e-15)."""
    amp, beta = ERFS[name]
    act = acts.get(name)
    z = torch.linspace(-4.0, 4.0, 161, dtype=torch.float64)
    zn = z.numpy()
    dphi = amp * beta * 2 / math.sqrt(math.pi) * np.exp(-((beta * zn) ** 2))
    ddphi = -2 * beta**2 * zn * dphi
    assert_close(act.phi(z), amp * special.erf(beta * zn), rtol=1e-14, atol=1e-15, what="phi")
    assert_close(act.dphi(z), dphi, rtol=1e-14, atol=1e-15, what="phi'")
    assert_close(act.ddphi(z), ddphi, rtol=1e-14, atol=1e-15, what="phi''")
    assert acts.is_odd(name)


def test_erf_is_torch_erf_and_the_named_variants_are_its_rescalings() -> None:
    z = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64)
    assert torch.equal(acts.get("erf").phi(z), torch.erf(z))
    assert torch.equal(acts.get("erf_sqrt2").phi(z), torch.erf(z / math.sqrt(2)))
    # erf_sqrt2' is twice the standard normal density (the former meaning of "erf")
    expected = [2 / math.sqrt(2 * math.pi), 2 * math.exp(-0.5) / math.sqrt(2 * math.pi)]
    got = acts.get("erf_sqrt2").dphi(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert_close(got, torch.tensor(expected, dtype=torch.float64), what="erf_sqrt2'")
    # erf_zhong' = e^(-z^2): 1 at 0
    assert float(acts.get("erf_zhong").dphi(torch.zeros(1, dtype=torch.float64))) == 1.0
