"""TwoLayerRegression: the model against a torch.nn net, init, rows and the driver.

Derivatives, shapes, capabilities and symmetry are held to the conformance suite
(tests/problems/test_conformance.py); this file checks what is particular to the class.
"""

from __future__ import annotations

import math

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GD, Stop, run
from landscope.problems import TwoLayerRegression

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(R: int = 3, n: int = 20, d: int = 3, seed: int = 0):
    g = _gen(seed)
    X = torch.randn(R, n, d, generator=g, dtype=DT)
    return X, (X[..., 0] - 0.5 * X[..., 1]).abs() + 0.3


def _module(W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.nn.Module:
    m, d = W.shape
    net = torch.nn.Sequential(
        torch.nn.Linear(d, m, bias=False, dtype=DT),
        torch.nn.ReLU(),
        torch.nn.Linear(m, 1, dtype=DT),
    )
    with torch.no_grad():
        net[0].weight.copy_(W)
        net[2].weight.copy_(b[None])
        net[2].bias.copy_(c)
    return net


def test_model_is_a_two_layer_net_with_output_bias() -> None:
    X, y = _data()
    prob = TwoLayerRegression(X, y, width=4)
    assert prob.n_params == 4 * 3 + 4 + 1 and (prob.n, prob.d) == (20, 3)
    theta = prob.init(3, generator=_gen(1))
    theta[:, -1] = torch.tensor([0.1, -0.2, 0.3], dtype=DT)  # a non-zero output bias
    Xt = torch.randn(3, 7, 3, generator=_gen(2), dtype=DT)
    pred, fit = prob.predict(theta, Xt), prob.predict(theta)
    assert pred.shape == (3, 7) and fit.shape == (3, 20)
    W, b, c = prob.split(theta)
    for r in range(3):
        with torch.no_grad():
            net = _module(W[r], b[r], c[r])
            assert_close(pred[r], net(Xt[r])[:, 0], what=f"predict, row {r}")
            want = 0.5 * (net(X[r])[:, 0] - y[r]).square().mean()
        assert_close(prob.loss(theta)[r], want, what=f"loss, row {r}")
    assert torch.equal(fit, prob.predict(theta, X))  # default inputs: the sample


def test_shared_sample_serves_any_number_of_rows() -> None:
    X, y = _data(R=1)
    prob = TwoLayerRegression(X[0], y[0], width=3)
    assert prob.shared
    theta = prob.init(5, generator=_gen(3))
    assert prob.loss(theta).shape == (5,) and prob.grad(theta).shape == (5, prob.n_params)
    assert prob.select(torch.tensor([0, 2])) is prob
    per_row = TwoLayerRegression(X.expand(5, -1, -1), y.expand(5, -1), width=3)
    assert_close(prob.loss_and_grad(theta)[1], per_row.grad(theta), what="shared vs per row")


def test_init_draws_each_row_from_its_generator() -> None:
    """A row drawn alone is the generator's next m d + m normals (W, then b), scaled by
    s / sqrt(d) and s / sqrt(m); c = 0. (A study resumed with more seeds, or rows drawn
    from per-seed generators, sees the same starting points.)"""
    X, y = _data()
    m, d, s = 4, 3, 0.1
    prob = TwoLayerRegression(X, y, width=m, init_scale=s)
    row = prob.init(1, generator=_gen(5))
    g = _gen(5)
    W = torch.randn(m, d, generator=g, dtype=DT) * s / math.sqrt(d)
    b = torch.randn(m, generator=g, dtype=DT) * s / math.sqrt(m)
    assert torch.equal(row, torch.cat([W.reshape(1, -1), b[None], torch.zeros(1, 1, dtype=DT)], 1))
    Ws, bs, cs = prob.split(prob.init(3, generator=_gen(6)))
    assert Ws.shape == (3, m, d) and bs.shape == (3, m) and cs.shape == (3, 1)
    assert float(cs.abs().max()) == 0.0


def test_select_restricts_the_data() -> None:
    X, y = _data(R=4)
    prob = TwoLayerRegression(X, y, width=3)
    theta = prob.init(4, generator=_gen(7))
    rows = torch.tensor([3, 1])
    sub = prob.select(rows)
    assert torch.equal(sub.X, X[rows]) and torch.equal(sub.y, y[rows])
    assert torch.equal(prob.X, X)  # the original keeps its data
    assert_close(sub.loss(theta[rows]), prob.loss(theta)[rows], what="loss of selected rows")
    with pytest.raises(ValueError, match=r"takes \(4, 13\)"):
        prob.loss(theta[:2])  # rows own data: the batch must match them


def test_driver_with_compaction_equals_each_row_alone() -> None:
    """GD through the driver, rows stopping at different steps (a loss target): the rows
    leave the batch with their data (select), and each ends where it ends trained alone
    (default float64 tolerances: the same arithmetic on smaller batches)."""
    X, y = _data(R=3, seed=8)
    prob = TwoLayerRegression(X, y, width=6, init_scale=0.5)
    theta0 = prob.init(3, generator=_gen(9))
    stop = Stop(grad_tol=0.0, loss_target=2e-3, max_steps=3000)
    res = run(prob, theta0, GD(0.2), stop=stop)
    assert len(set(res.steps.tolist())) > 1, "rows should stop at different steps"
    assert res.status_names() == ["converged"] * 3
    for r in range(3):
        one = torch.tensor([r])
        alone = run(prob.select(one), theta0[one], GD(0.2), stop=stop)
        assert int(alone.steps[0]) == int(res.steps[r])
        assert_close(alone.theta[0], res.theta[r], what=f"row {r} alone")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda X, y: TwoLayerRegression(X, y[:, :-1], width=2), "do not fit"),
        (lambda X, y: TwoLayerRegression(X[0, 0], y[0], width=2), "do not fit"),
        (lambda X, y: TwoLayerRegression(X * math.nan, y, width=2), "X contains NaN"),
        (lambda X, y: TwoLayerRegression(X, y * math.inf, width=2), "y contains NaN"),
        (lambda X, y: TwoLayerRegression(X.long(), y, width=2), "floating-point"),
        (lambda X, y: TwoLayerRegression(X, y, width=0), "width must be a positive"),
        (lambda X, y: TwoLayerRegression(X, y, width=2.0), "width must be a positive"),
        (lambda X, y: TwoLayerRegression(X, y, width=2, init_scale=0.0), "init_scale"),
        (lambda X, y: TwoLayerRegression(X, y, width=2, activation="nope"), "nope"),
    ],
    ids=["y-short", "X-1d", "X-nan", "y-inf", "X-int", "width-0", "width-float", "scale", "act"],
)
def test_bad_arguments(make, words) -> None:
    X, y = _data(R=2, n=5)
    with pytest.raises(ValueError, match=words):
        make(X, y)
