"""Which registered activations take a closed-form dual kernel, and the expectations by name
against quadrature of the same activation."""

from __future__ import annotations

import math

import pytest
import torch

from _tolerances import assert_close
from landscope import activations as acts
from landscope.activations.dual import closed_form, closed_form_name, relu_slope

DT = torch.float64

EXPECTED = {
    "relu": "relu",
    "leaky_relu": "relu",
    "leaky_relu:0.2": "relu",
    "squared_relu": "squared_relu",
    "erf": "erf",
    "erf_sqrt2": "erf_sqrt2",
    "erf_zhong": "erf_zhong",
    "tanh": None,
    "sigmoid": None,
    "softplus": None,
    "softplus:4": None,
    "gelu": None,
    "linear": None,
    "quadratic": None,
}


def test_every_builtin_is_classified() -> None:
    builtins = [n for n in acts.names() if acts.get(n).builtin]
    assert set(builtins) <= set(EXPECTED)
    for name, form in EXPECTED.items():
        assert closed_form_name(acts.get(name)) == form, name
        assert (closed_form(acts.get(name)) is None) == (form is None), name
    assert relu_slope(acts.get("relu")) == 0.0
    assert relu_slope(acts.get("leaky_relu")) == 0.01
    assert relu_slope(acts.get("leaky_relu:0.2")) == pytest.approx(0.2, abs=0)
    assert relu_slope(acts.get("tanh")) is None


def test_user_activations_never_take_a_closed_form() -> None:
    """Even named like a built-in family, or built as an Activation under a built-in name."""
    try:
        mine = acts.register("leaky_relu_mine", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2)
        assert closed_form_name(mine) is None and relu_slope(mine) is None
    finally:
        acts.unregister("leaky_relu_mine")
    fake = acts.Activation("erf", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2, torch.zeros_like)
    assert closed_form_name(fake) is None


@pytest.mark.parametrize(
    "name",
    ["relu", "leaky_relu:0.2", "squared_relu", *sorted(n for n in EXPECTED if n.startswith("erf"))],
)
def test_closed_form_equals_quadrature_by_name(name: str) -> None:
    """The two paths of ``dual_expectations`` for the same activation: the relu family's
    sector rule is exact (kinks split at 0, measured <= 3e-14 relative); the erfs' Fourier
    rule measured ~1e-15. 1e-12 of the largest entry leaves room for rounding."""
    g = torch.Generator().manual_seed(2)
    X = torch.randn(6, 3, generator=g, dtype=DT)
    S = X @ X.T
    act = acts.get(name)
    closed = acts.dual_expectations(act, S, method="closed_form")
    quad = acts.dual_expectations(act, S, method="quadrature")
    for c, q, what in zip(closed, quad, ("phi", "phi'"), strict=True):
        assert_close(q, c, rtol=0, atol=1e-12 * float(c.abs().max()), what=f"{name} {what}")


def test_closed_form_method_without_one_is_one_sentence() -> None:
    S = torch.eye(2, dtype=DT)
    with pytest.raises(ValueError, match="'tanh' has no closed-form kernel") as err:
        acts.dual_expectations(acts.get("tanh"), S, method="closed_form")
    assert "erf_zhong" in str(err.value) and str(err.value).endswith(".")


def test_old_erf_kernel_is_erf_sqrt2() -> None:
    """The closed form that "erf" had (Williams 1997 for erf(z / sqrt 2)) is erf_sqrt2's:
    E = (2 / pi) arcsin(S_ij / sqrt((1 + S_ii)(1 + S_jj)))."""
    g = torch.Generator().manual_seed(3)
    X = torch.randn(5, 4, generator=g, dtype=DT)
    S = X @ X.T
    v = torch.diagonal(S)
    dd = (1 + v)[:, None] * (1 + v)[None, :]
    sig, dot = acts.dual_expectations(acts.get("erf_sqrt2"), S)
    assert_close(sig, 2 / math.pi * torch.arcsin(S / torch.sqrt(dd)), what="phi")
    assert_close(dot, 2 / math.pi / torch.sqrt(dd - S * S), what="phi'")
