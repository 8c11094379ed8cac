"""``landscope.problems.models``: module factories by name, and their sizes and outputs."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.problems import MODELS, ModuleLoss, make_model, parse_model, sigmoid_mlp, small_cnn

F64 = torch.float64


def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("w", [1, 4, 16])
def test_sigmoid_mlp_size_and_function(w: int) -> None:
    net = sigmoid_mlp(w).to(F64)
    assert _n_params(net) == w * w + 4 * w + 1
    x = torch.linspace(0, 1, 7, dtype=F64)[:, None]
    l1, l2, l3 = (m for m in net if isinstance(m, torch.nn.Linear))
    # independent reference: the two sigmoid layers written out
    h = torch.sigmoid(x @ l1.weight.T + l1.bias)
    h = torch.sigmoid(h @ l2.weight.T + l2.bias)
    with torch.no_grad():
        assert_close(net(x), h @ l3.weight.T + l3.bias)
    assert sigmoid_mlp(w, d_in=3, d_out=2)(torch.zeros(5, 3)).shape == (5, 2)


@pytest.mark.parametrize("c", [1, 2, 8])
def test_small_cnn_size_and_function(c: int) -> None:
    net = small_cnn(c).to(F64)
    assert _n_params(net) == 370 * c + 10
    X = torch.randn(4, 1, 8, 8, dtype=F64, generator=torch.Generator().manual_seed(c))
    conv, lin = net[0], net[3]
    # independent reference: the convolution as a sum over the 3 x 3 window
    feat = torch.zeros(4, c, 6, 6, dtype=F64)
    for i in range(3):
        for j in range(3):
            feat += X[:, :, i : i + 6, j : j + 6] * conv.weight[None, :, 0, i, j, None, None]
    feat = torch.relu(feat + conv.bias[None, :, None, None])
    with torch.no_grad():
        assert_close(net(X), feat.reshape(4, -1) @ lin.weight.T + lin.bias)
    assert small_cnn(c, side=5, kernel=5, classes=3)(torch.zeros(2, 1, 5, 5)).shape == (2, 3)


def test_registry_lookup() -> None:
    assert set(MODELS) == {"sigmoid_mlp", "small_cnn"}
    assert parse_model("small_cnn:12") == ("small_cnn", 12)
    assert _n_params(make_model("sigmoid_mlp:4")) == 33
    assert _n_params(make_model("small_cnn:2")) == 750
    with pytest.raises(TypeError):
        MODELS["other"] = sigmoid_mlp  # read-only: no module-level mutable state


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("mlp:4", r"^unknown model 'mlp' in 'mlp:4'; use one of sigmoid_mlp, small_cnn\.$"),
        ("small_cnn", r"^model 'small_cnn' needs a positive integer width, as in small_cnn:4\.$"),
        ("small_cnn:0", "needs a positive integer width"),
        ("sigmoid_mlp:-2", "needs a positive integer width"),
        ("sigmoid_mlp:2.5", "needs a positive integer width"),
    ],
)
def test_unknown_names_and_bad_widths_are_one_sentence(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_model(spec)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sigmoid_mlp(0), r"^width must be a positive integer; got 0\.$"),
        (lambda: sigmoid_mlp(True), "width must be a positive integer"),
        (lambda: small_cnn(2, kernel=9), r"^kernel 9 is larger than the 8 x 8 image\.$"),
        (lambda: small_cnn(2, classes=0), "classes must be a positive integer"),
    ],
)
def test_bad_factory_arguments_are_one_sentence(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_models_train_as_module_losses() -> None:
    """Each factory's module is a problem through ModuleLoss: rows of the right size, a
    finite loss and gradient for every row."""
    x = torch.linspace(0, 1, 10, dtype=F64)[:, None]
    cases = [
        (ModuleLoss(make_model("sigmoid_mlp:3"), x, x**2), 3 * 3 + 12 + 1),
        (
            ModuleLoss(
                make_model("small_cnn:2"),
                torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)),
                torch.arange(6) % 10,
                criterion="cross_entropy",
            ),
            750,
        ),
    ]
    for prob, P in cases:
        theta = prob.init(3, generator=torch.Generator().manual_seed(1))
        loss, grad = prob.loss_and_grad(theta)
        assert theta.shape == (3, P) and loss.shape == (3,) and grad.shape == (3, P)
        assert bool(torch.isfinite(loss).all() and torch.isfinite(grad).all())
