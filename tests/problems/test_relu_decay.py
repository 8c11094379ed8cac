"""ReluWeightDecay: the objective, its derivatives, rows, symmetry and bad arguments.

The conformance suite (tests/problems/test_conformance.py) holds the class to the Problem
protocol and its capabilities' contracts as well; this file checks what is particular to
it, float64 throughout, at random points away from the ReLU kinks.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from _tolerances import assert_close
from landscope.problems import KnownOptimum, ReluWeightDecay, Residuals, RowData

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(n: int = 7, d: int = 3, seed: int = 0, R: int | None = None):
    g = _gen(seed)
    shape = (n, d) if R is None else (R, n, d)
    X = torch.randn(*shape, generator=g, dtype=DT)
    return X, torch.randn(*shape[:-1], generator=g, dtype=DT)


def _problem(m: int = 4, beta: float = 0.2, **kw) -> ReluWeightDecay:
    X, y = _data()
    return ReluWeightDecay(X, y, width=m, beta=beta, **kw)


def _point(prob: ReluWeightDecay, R: int = 3, seed: int = 1) -> torch.Tensor:
    theta = prob.init(R, generator=_gen(seed))
    return theta + 0.3 * torch.randn(theta.shape, generator=_gen(seed + 50), dtype=DT)


def _off_kinks(prob: ReluWeightDecay, theta: torch.Tensor) -> None:
    U, _ = prob.split(theta)
    assert float((prob.X @ U.transpose(1, 2)).abs().min()) > 1e-6, "a sample sits on a kink"


def _direct_loss(X, y, U, alpha, beta) -> torch.Tensor:
    """One row, written out from the paper's objective."""
    f = sum(alpha[j] * torch.relu(X @ U[j]) for j in range(U.shape[0]))
    return 0.5 * ((f - y) ** 2).sum() + beta / 2 * sum(
        (U[j] ** 2).sum() + alpha[j] ** 2 for j in range(U.shape[0])
    )


def test_layout_and_loss_against_a_direct_computation() -> None:
    prob = _problem(m=4, beta=0.2)
    assert (prob.n, prob.d, prob.n_params) == (7, 3, 4 * (3 + 1))
    theta = _point(prob)
    U, alpha = prob.split(theta)
    assert U.shape == (3, 4, 3) and alpha.shape == (3, 4)
    assert torch.equal(U[1, 2], theta[1, 2 * 3 : 3 * 3])  # U row-major, then alpha
    assert torch.equal(alpha[1], theta[1, 12:])
    loss = prob.loss(theta)
    for r in range(3):
        want = _direct_loss(prob.X[0], prob.y[0], U[r], alpha[r], 0.2)
        assert_close(loss[r], want, what=f"loss of row {r}")
    Xt = torch.randn(5, 3, generator=_gen(2), dtype=DT)
    pred = prob.predict(theta, Xt)
    assert pred.shape == (3, 5)
    assert_close(pred[2], torch.relu(Xt @ U[2].T) @ alpha[2], what="predict")
    assert torch.equal(prob.predict(theta), prob.predict(theta, prob.X[0]))


def test_same_objective_as_the_convex_module() -> None:
    """No 1/n: the scaling under which p* is the convex program's optimal value."""
    relu = pytest.importorskip("landscope.convex.relu")
    prob = _problem(m=3, beta=0.7)
    theta = _point(prob, R=2)
    U, alpha = prob.split(theta)
    for r in range(2):
        want = relu.nonconvex_objective(prob.X[0], prob.y[0], U[r], alpha[r], 0.7)
        assert_close(prob.loss(theta[r : r + 1]), torch.tensor([want], dtype=DT), what="p")


def test_grad_hessian_hvp_against_autograd() -> None:
    prob = _problem(m=3, beta=0.4)
    theta = _point(prob, seed=3)
    _off_kinks(prob, theta)
    loss, grad = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    v = torch.randn(theta.shape, generator=_gen(4), dtype=DT)
    hv = prob.hvp(theta, v)
    assert_close(prob.grad(theta), grad, what="grad vs loss_and_grad")
    assert_close(loss, prob.loss(theta), what="loss vs loss_and_grad")
    for r in range(theta.shape[0]):

        def one(t: torch.Tensor) -> torch.Tensor:
            return prob.loss(t[None])[0]

        assert_close(grad[r], jacrev(one)(theta[r]), what=f"grad vs autograd, row {r}")
        assert_close(H[r], jacrev(jacrev(one))(theta[r]), what=f"hessian vs autograd, row {r}")
    assert_close(hv, (H @ v[..., None])[..., 0], what="hvp vs hessian @ v")


def test_residuals_and_their_jacobian() -> None:
    prob = _problem(m=3, beta=0.25)
    theta = _point(prob, seed=5)
    _off_kinks(prob, theta)
    assert isinstance(prob, Residuals)
    r = prob.residuals(theta)
    r2, J = prob.residuals_and_jacobian(theta)
    P = prob.n_params
    assert r.shape == (3, prob.n + P) and J.shape == (3, prob.n + P, P)
    assert_close(r2, r, what="residuals_and_jacobian's r")
    assert_close(0.5 * r.square().sum(1), prob.loss(theta), what="|r|^2 / 2 vs loss")
    assert_close(r[:, prob.n :], 0.5 * theta, what="the penalty's residuals sqrt(beta) theta")
    for i in range(3):
        ref = jacrev(lambda t: prob.residuals(t[None])[0])(theta[i])
        assert_close(J[i], ref, what=f"Jacobian vs autograd, row {i}")
    # least squares: the gradient is J' r
    assert_close(prob.grad(theta), (J.transpose(1, 2) @ r[..., None])[..., 0], what="grad = J' r")


def test_per_row_data_equals_each_row_with_its_own_shared_problem() -> None:
    R = 3
    X, y = _data(R=R, seed=6)
    prob = ReluWeightDecay(X, y, width=3, beta=0.3)
    assert not prob.shared and isinstance(prob, RowData)
    theta = _point(prob, R=R, seed=7)
    v = torch.randn(theta.shape, generator=_gen(8), dtype=DT)
    loss, grad = prob.loss_and_grad(theta)
    H, hv, res = prob.hessian(theta), prob.hvp(theta, v), prob.residuals(theta)
    for r in range(R):
        alone = ReluWeightDecay(X[r], y[r], width=3, beta=0.3)
        t = theta[r : r + 1]
        assert_close(loss[r : r + 1], alone.loss(t), what=f"loss, row {r}")
        assert_close(grad[r : r + 1], alone.grad(t), what=f"grad, row {r}")
        assert_close(H[r : r + 1], alone.hessian(t), what=f"hessian, row {r}")
        assert_close(hv[r : r + 1], alone.hvp(t, v[r : r + 1]), what=f"hvp, row {r}")
        assert_close(res[r : r + 1], alone.residuals(t), what=f"residuals, row {r}")
        Xt = torch.randn(4, 3, generator=_gen(20 + r), dtype=DT)
        assert_close(
            prob.predict(theta, Xt)[r : r + 1], alone.predict(t, Xt), what=f"predict, row {r}"
        )
    # select keeps rows and data aligned; the original keeps its data
    rows = torch.tensor([2, 0])
    sub = prob.select(rows)
    assert torch.equal(sub.X, X[rows]) and torch.equal(sub.y, y[rows]) and torch.equal(prob.X, X)
    assert_close(sub.loss(theta[rows]), loss[rows], what="loss of selected rows")
    assert_close(sub.grad(theta[rows]), grad[rows], what="grad of selected rows")
    with pytest.raises(ValueError, match=r"takes \(3, 12\)"):
        prob.loss(theta[:2])  # rows own data: the batch must match them
    shared = ReluWeightDecay(X[0], y[0], width=3, beta=0.3)
    assert shared.select(rows) is shared
    assert shared.loss(_point(shared, R=5)).shape == (5,)  # any number of rows


def test_neuron_permutation_is_a_symmetry_and_rescaling_is_not() -> None:
    prob = _problem(m=4, beta=0.5)
    assert prob.symmetry == "Sn"
    theta = _point(prob, seed=9)
    U, alpha = prob.split(theta)
    p = torch.tensor([2, 0, 3, 1])
    moved = prob.join(U[:, p], alpha[:, p])
    assert not torch.equal(moved, theta)
    assert_close(prob.loss(moved), prob.loss(theta), what="loss at P.theta")
    gU, ga = prob.split(prob.grad(theta))
    assert_close(prob.grad(moved), prob.join(gU[:, p], ga[:, p]), what="grad at P.theta")
    # (u, alpha) -> (c u, alpha / c): the same network, another penalty
    c = 2.0
    scaled = prob.join(c * U, alpha / c)
    assert_close(prob.predict(scaled), prob.predict(theta), what="rescaled network")
    assert bool((prob.loss(scaled) - prob.loss(theta)).abs().min() > 1e-3)


def test_balance_identity_along_the_rescaling() -> None:
    """u_j . g_{u_j} - alpha_j g_{alpha_j} = beta (||u_j||^2 - alpha_j^2) at every point
    (the fit is rescaling-invariant), so critical points are balanced: ||u_j|| = |alpha_j|."""
    prob = _problem(m=4, beta=0.3)
    theta = _point(prob, seed=10)
    U, alpha = prob.split(theta)
    gU, ga = prob.split(prob.grad(theta))
    lhs = (U * gU).sum(2) - alpha * ga
    assert_close(lhs, 0.3 * (U.square().sum(2) - alpha.square()), what="balance identity")


def test_a_dead_neuron_is_critical_in_its_coordinates() -> None:
    prob = _problem(m=3, beta=0.2)
    theta = _point(prob, seed=11)
    U, alpha = prob.split(theta)
    U[:, 1] = 0.0  # views: this zeroes neuron 1 in theta
    alpha[:, 1] = 0.0
    gU, ga = prob.split(prob.grad(theta))
    assert float(gU[:, 1].abs().max()) == 0.0 and float(ga[:, 1].abs().max()) == 0.0
    assert float(gU[:, [0, 2]].abs().max()) > 0.0
    # its Hessian block is beta I (relu'(0) = 0), decoupled from the other neurons
    d, md = prob.d, 3 * prob.d
    idx = torch.tensor([d, d + 1, d + 2, md + 1])
    H = prob.hessian(theta)
    block = H[:, idx][:, :, idx]
    assert_close(block, 0.2 * torch.eye(4, dtype=DT).expand(3, 4, 4), what="dead block")
    rest = torch.tensor([i for i in range(prob.n_params) if i not in idx.tolist()])
    assert float(H[:, idx][:, :, rest].abs().max()) == 0.0


def test_init_split_join() -> None:
    m, d, s = 4, 3, 0.5
    prob = _problem(m=m, init_scale=s)
    row = prob.init(1, generator=_gen(12))
    g = _gen(12)
    U = torch.randn(m, d, generator=g, dtype=DT) * s / math.sqrt(d)
    alpha = torch.randn(m, generator=g, dtype=DT) * s / math.sqrt(m)
    assert torch.equal(row, prob.join(U, alpha))  # one network (m, d), (m,) -> (1, P)
    theta = prob.init(3, generator=_gen(13))
    assert torch.equal(prob.join(prob.split(theta)), theta)
    with pytest.raises(ValueError, match="do not fit"):
        prob.join(U[:, :2], alpha)
    with pytest.raises(ValueError, match="do not fit"):
        prob.join(U[None], alpha[:3][None])


def test_global_min_is_a_value_not_known_optimum() -> None:
    prob = _problem(global_min=1)
    assert prob.global_min == 1.0 and isinstance(prob.global_min, float)
    assert _problem().global_min is None
    assert not isinstance(prob, KnownOptimum)  # no distance to the minimizers


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"y": "short"}, "do not fit"),
        ({"X": "1d"}, "do not fit"),
        ({"X": "nan"}, "X contains NaN"),
        ({"y": "inf"}, "y contains NaN"),
        ({"X": "int"}, "floating-point"),
        ({"X": "empty"}, "n >= 1"),
        ({"width": 0}, "width must be a positive"),
        ({"width": 2.0}, "width must be a positive"),
        ({"beta": 0.0}, "beta must be a finite number > 0"),
        ({"beta": -1.0}, "beta must be a finite number > 0"),
        ({"beta": math.inf}, "beta must be a finite number > 0"),
        ({"beta": True}, "beta must be a finite number > 0"),
        ({"init_scale": 0.0}, "init_scale"),
        ({"global_min": -0.1}, "global_min must be"),
        ({"global_min": math.nan}, "global_min must be"),
        ({"X": "rows", "global_min": 0.1}, "shared sample"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())),
)
def test_bad_arguments(kw, words) -> None:
    X, y = _data(n=5, d=2)
    args = {"width": 2, "beta": 0.1}
    change = {
        "short": y[:-1],
        "1d": X[0],
        "nan": X * math.nan,
        "inf": y * math.inf,
        "int": X.long(),
        "empty": X[:0],
        "rows": X[None].expand(2, -1, -1),
    }
    data = {"X": X, "y": y}
    for k, v in kw.items():
        if k in data:
            data[k] = change[v]
        else:
            args[k] = v
    if data["X"].shape[0] == 0:
        data["y"] = y[:0]  # an empty sample, shapes that fit
    if data["X"].dim() == 3 and data["y"].dim() == 1:
        data["y"] = data["y"][None].expand(2, -1)
    with pytest.raises(ValueError, match=words):
        ReluWeightDecay(data["X"], data["y"], **args)


def test_bad_theta_and_v() -> None:
    prob = _problem(m=2)
    theta = _point(prob, R=2)
    with pytest.raises(ValueError, match="theta has shape"):
        prob.loss(theta[:, :-1])
    with pytest.raises(ValueError, match="v has shape"):
        prob.hvp(theta, theta[:1])
    with pytest.raises(ValueError):
        prob.as_batch(torch.zeros(3, prob.n_params + 1, dtype=DT))
