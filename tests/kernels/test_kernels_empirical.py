"""The empirical NTK: against explicit J J' from torch.autograd, chunking, parameter
subsets, and a wide two-layer net against the infinite-width kernels."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope import kernels
from landscope.kernels import empirical_ntk, ntk_gram

DT = torch.float64


def seeded(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` in float64 with every parameter redrawn N(0, 1/2) from its own generator."""
    g = torch.Generator().manual_seed(seed)
    model = model.to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, dtype=DT, generator=g))
    return model


def mlp() -> torch.nn.Module:
    layers = [torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4), torch.nn.Tanh()]
    return seeded(torch.nn.Sequential(*layers, torch.nn.Linear(4, 1)), 0)


def cnn() -> torch.nn.Module:
    layers = [torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten()]
    return seeded(torch.nn.Sequential(*layers, torch.nn.Linear(32, 3)), 1)


def explicit_jacobian(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """J (n, o, P) of the stacked outputs by torch.autograd.functional.jacobian."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for k, s in zip(names, shapes, strict=True):
            parts[k] = theta[i : i + s.numel()].reshape(s)
            i += s.numel()
        return torch.func.functional_call(model, parts, (X,)).reshape(X.shape[0], -1)

    return torch.autograd.functional.jacobian(f, flat)  # (n, o, P)


def test_mlp_matches_explicit_jacobian() -> None:
    model = mlp()
    X = torch.randn(7, 3, dtype=DT, generator=torch.Generator().manual_seed(2))
    J = explicit_jacobian(model, X)[:, 0, :]
    K = empirical_ntk(model, X)
    assert K.shape == (7, 7) and K.dtype == DT
    assert_close(K, J @ J.T, what="mlp")  # same products, summed in another order: 1e-12


def test_cnn_matches_explicit_jacobian_per_output_pair() -> None:
    model = cnn()
    X = torch.randn(5, 1, 6, 6, dtype=DT, generator=torch.Generator().manual_seed(3))
    J = explicit_jacobian(model, X)  # (5, 3, P)
    full = empirical_ntk(model, X, trace=False)
    assert full.shape == (5, 5, 3, 3)
    assert_close(full, torch.einsum("akp,blp->abkl", J, J), what="cnn (n, n, o, o)")
    traced = empirical_ntk(model, X)
    assert_close(traced, torch.einsum("akp,bkp->ab", J, J), what="cnn trace")
    assert_close(traced, torch.einsum("abkk->ab", full), what="trace of the full kernel")


@pytest.mark.parametrize("chunk", [1, 2, 3, 6])
def test_chunks_give_the_same_kernel(chunk: int) -> None:
    model = cnn()
    X = torch.randn(6, 1, 6, 6, dtype=DT, generator=torch.Generator().manual_seed(4))
    # the same Jacobian rows and products in other block sizes: rounding-level apart
    # (BLAS may block a product differently), well inside the default 1e-12
    assert_close(empirical_ntk(model, X, chunk=chunk), empirical_ntk(model, X), what="trace")
    assert_close(
        empirical_ntk(model, X, chunk=chunk, trace=False),
        empirical_ntk(model, X, trace=False),
        what="full",
    )


class TwoLayer(torch.nn.Module):
    """Du et al.'s net: f(x) = (1/sqrt m) sum_r a_r relu(w_r . x), both layers trainable."""

    def __init__(self, d: int, m: int, gen: torch.Generator, act=torch.relu) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(m, d, dtype=DT, generator=gen))
        self.a = torch.nn.Parameter(torch.randn(m, dtype=DT, generator=gen).sign())
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x @ self.W.T) @ self.a / math.sqrt(self.a.numel())


def per_neuron_terms(net: TwoLayer, X: torch.Tensor, dact) -> tuple[torch.Tensor, ...]:
    """The m per-neuron terms whose means are the NTK's two parts: (m, n, n) each."""
    Z = X @ net.W.detach().T
    P, D = net.act(Z), dact(Z)
    S = X @ X.T
    a2 = (net.a.detach() ** 2)[:, None, None]
    nngp = P.T[:, :, None] * P.T[:, None, :]
    h = a2 * S * (D.T[:, :, None] * D.T[:, None, :])
    return nngp, h


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_wide_two_layer_net_approaches_the_infinite_width_kernels(name: str) -> None:
    act = {"relu": torch.relu, "tanh": torch.tanh}[name]
    dact = {"relu": lambda z: (z > 0).to(DT), "tanh": lambda z: 1 - torch.tanh(z) ** 2}[name]
    d, m = 4, 20_000
    g = torch.Generator().manual_seed(5)
    X = kernels.sphere(6, d, generator=g) * torch.linspace(0.6, 1.4, 6, dtype=DT)[:, None]
    net = TwoLayer(d, m, g, act)
    nngp_terms, h_terms = per_neuron_terms(net, X, dact)
    both = empirical_ntk(net, X)
    first = empirical_ntk(net, X, params={"W": net.W})
    # the per-neuron terms are the NTK exactly (a second reference for empirical_ntk)
    assert_close(both, (nngp_terms + h_terms).mean(0), what="per-neuron sum")
    assert_close(first, h_terms.mean(0), what="first layer only: H(0)")
    # and their mean is within 6 standard errors of the limit (m iid neurons)
    for emp, terms, kind in ((both, nngp_terms + h_terms, "ntk"), (first, h_terms, "h_inf")):
        se = terms.std(0) / math.sqrt(m)
        assert_close(emp, ntk_gram(X, name, kind), rtol=0, atol=6 * se.numpy() + 1e-12, what=kind)


def test_params_at_other_values_and_frozen_parameters() -> None:
    model = mlp()
    X = torch.randn(4, 3, dtype=DT, generator=torch.Generator().manual_seed(6))
    other = {k: v.detach() * 1.5 for k, v in model.named_parameters()}
    moved = mlp()
    with torch.no_grad():
        for k, p in moved.named_parameters():
            p.copy_(other[k])
    assert_close(empirical_ntk(model, X, params=other), empirical_ntk(moved, X), what="values")
    for k, p in moved.named_parameters():
        p.requires_grad_(k.startswith("0."))
    sub = {k: v for k, v in moved.named_parameters() if k.startswith("0.")}
    assert_close(empirical_ntk(moved, X), empirical_ntk(moved, X, params=sub), what="frozen")


def test_float32_model_gives_float64_unless_asked() -> None:
    """The kernel is float64 by default whatever the model's dtype (computed on a float64
    copy: equal to the kernel of the model cast by hand), float32 when asked; the model is
    not changed, and the result is a plain tensor: .numpy() works."""
    model = mlp().float()
    X = torch.randn(3, 3)
    K = empirical_ntk(model, X)
    assert K.dtype == torch.float64 and K.shape == (3, 3)
    assert next(model.parameters()).dtype == torch.float32  # the user's model untouched
    assert_close(K, empirical_ntk(copy.deepcopy(model).double(), X.double()), what="float64")
    K32 = empirical_ntk(model, X.double(), dtype="float32")  # X is cast to dtype
    assert K32.dtype == torch.float32 and K32.shape == (3, 3)
    assert not K32.requires_grad and K32.grad_fn is None
    assert K32.numpy().dtype == np.float32
    assert_close(K32, K.float(), dtype=torch.float32, what="float32 vs float64")
    K64 = empirical_ntk(mlp(), X.double(), dtype=torch.float32)  # a float64 model, asked 32
    assert K64.dtype == torch.float32
    sub = empirical_ntk(model, X, params={"0.weight": model[0].weight})
    assert sub.dtype == torch.float64 and sub.numpy().shape == (3, 3)
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        empirical_ntk(model, X, dtype="float16")


@pytest.mark.parametrize("which", ["all", "subset", "values"])
def test_result_is_detached_whatever_params(which: str) -> None:
    """With ``params`` (a subset, or tensors that require grad) the kernel used to carry
    the autograd graph of the module's other parameters (.numpy() raised); it is detached
    always, and equal to the default call's where the values agree."""
    model = mlp()
    X = torch.randn(5, 3, dtype=DT, generator=torch.Generator().manual_seed(8))
    if which == "all":
        params = dict(model.named_parameters())  # requires_grad tensors themselves
    elif which == "subset":
        params = {"0.weight": model[0].weight}
    else:
        params = {k: (1.5 * v).requires_grad_(True) for k, v in model.named_parameters()}
    K = empirical_ntk(model, X, params=params)
    assert not K.requires_grad and K.grad_fn is None
    assert K.numpy().shape == (5, 5)
    full = empirical_ntk(model, X, params=params, trace=False)
    assert not full.requires_grad and full.numpy().shape == (5, 5, 1, 1)
    if which == "all":
        assert_close(K, empirical_ntk(model, X), what="same values as the default")
    if which == "subset":
        J = explicit_jacobian(model, X)[:, 0, : model[0].weight.numel()]  # first tensor
        assert_close(K, J @ J.T, what="first layer's weight only")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"params": {"nope": torch.zeros(1)}}, "'nope' is not a parameter of the model"),
        ({"params": {"0.weight": torch.zeros(2, 2)}}, r"has shape \(2, 2\)"),
        ({"params": {}}, "non-empty mapping"),
        ({"chunk": 0}, "chunk must be a positive integer"),
        ({"chunk": 1.5}, "chunk must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        empirical_ntk(mlp(), torch.zeros(2, 3, dtype=DT), **kwargs)


def test_bad_models_and_data() -> None:
    with pytest.raises(ValueError, match="no trainable parameters"):
        empirical_ntk(torch.nn.ReLU(), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="must be a torch.nn.Module"):
        empirical_ntk(lambda x: x, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        empirical_ntk(mlp(), torch.tensor([[0.0, math.nan, 1.0]], dtype=DT))
    with pytest.raises(ValueError, match="n >= 1 samples"):
        empirical_ntk(mlp(), torch.zeros(0, 3, dtype=DT))
