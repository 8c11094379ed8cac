"""ReluBatchNorm: the objective, its derivatives, invariances, rows and bad arguments.

The conformance suite (tests/problems/test_conformance.py) holds the class to the Problem
protocol and its capabilities' contracts as well; this file checks what is particular to
it against a reference written out here, float64 throughout, at random points away from
the ReLU kinks. Tolerances are the float64 defaults of ``_tolerances`` (rtol = atol =
1e-12: two computations of the same value in another order) unless a test says otherwise.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from _tolerances import assert_close
from landscope.problems import Factored, KnownOptimum, ReluBatchNorm, Residuals, RowData

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(n: int = 7, d: int = 3, seed: int = 0, R: int | None = None):
    g = _gen(seed)
    shape = (n, d) if R is None else (R, n, d)
    X = torch.randn(*shape, generator=g, dtype=DT)
    return X, torch.randn(*shape[:-1], generator=g, dtype=DT)


def _problem(m: int = 3, beta: float = 0.2, **kw) -> ReluBatchNorm:
    X, y = _data()
    return ReluBatchNorm(X, y, width=m, beta=beta, **kw)


def _point(prob: ReluBatchNorm, R: int = 3, seed: int = 1) -> torch.Tensor:
    theta = prob.init(R, generator=_gen(seed))
    return theta + 0.3 * torch.randn(theta.shape, generator=_gen(seed + 50), dtype=DT)


# ------------------------------------------------------------------ the reference
def _ref_blocks(row: torch.Tensor, m: int, d: int, j: int):
    """u_j, gamma_j, b_j, alpha_j of one row (P,), read off the documented layout."""
    w = row[j * (d + 2) : (j + 1) * (d + 2)]
    return w[:d], w[d], w[d + 1], row[m * (d + 2) + j]


def _ref_fit(row, X, y, m: int, c: float) -> torch.Tensor:
    """e = f - y of one row, neuron by neuron from the definition of BN."""
    f = torch.zeros(X.shape[0], dtype=DT)
    for j in range(m):
        u, g, b, a = _ref_blocks(row, m, X.shape[1], j)
        z = X @ u
        zc = z - z.mean()
        f = f + a * torch.relu(g * zc / torch.sqrt((zc * zc).sum()) + c * b)
    return f - y


def _ref_loss(row, X, y, m: int, beta: float, c: float) -> torch.Tensor:
    pen = sum(
        _ref_blocks(row, m, X.shape[1], j)[1] ** 2
        + _ref_blocks(row, m, X.shape[1], j)[2] ** 2
        + _ref_blocks(row, m, X.shape[1], j)[3] ** 2
        for j in range(m)
    )
    return 0.5 * (_ref_fit(row, X, y, m, c) ** 2).sum() + 0.5 * beta * pen


def _ref_residuals(row, X, y, m: int, beta: float, c: float) -> torch.Tensor:
    d, s = X.shape[1], math.sqrt(beta)
    blocks = [_ref_blocks(row, m, d, j) for j in range(m)]
    pen = [s * torch.stack([bl[k] for bl in blocks]) for k in (1, 2, 3)]
    return torch.cat([_ref_fit(row, X, y, m, c), *pen])


def _off_kinks(prob: ReluBatchNorm, theta: torch.Tensor) -> None:
    U, gamma, b, _ = prob.parts(theta)
    Z = prob.X @ U.transpose(1, 2)
    Zc = Z - Z.mean(1, keepdim=True)
    H = gamma[:, None] * Zc / Zc.norm(dim=1, keepdim=True) + prob.bias_scale * b[:, None]
    assert float(H.abs().min()) > 1e-6, "a sample sits on a kink"


# ---------------------------------------------------------------------- layout, loss
def test_layout_parts_and_loss_against_a_direct_computation() -> None:
    m, d, c = 4, 3, 0.6
    prob = _problem(m=m, beta=0.2, bias_scale=c)
    assert (prob.n, prob.d, prob.n_params) == (7, d, m * (d + 2) + m)
    assert prob.symmetry == "Sn" and isinstance(prob, Factored)
    theta = _point(prob)
    W, alpha = prob.split(theta)
    assert W.shape == (3, m, d + 2) and alpha.shape == (3, m)
    assert torch.equal(W[1, 2], theta[1, 2 * (d + 2) : 3 * (d + 2)])  # [u_2, gamma_2, b_2]
    assert torch.equal(alpha[1], theta[1, m * (d + 2) :])
    U, gamma, b, alpha2 = prob.parts(theta)
    assert U.shape == (3, m, d) and gamma.shape == b.shape == (3, m)
    assert torch.equal(U[2, 1], theta[2, (d + 2) : (d + 2) + d])
    assert float(gamma[2, 1]) == float(theta[2, (d + 2) + d])
    assert float(b[2, 1]) == float(theta[2, (d + 2) + d + 1])
    assert torch.equal(alpha2, alpha)
    assert W.data_ptr() == theta.data_ptr() and U.data_ptr() == theta.data_ptr()  # views
    assert torch.equal(prob.join(U, gamma, b, alpha), theta)
    assert torch.equal(prob.join(prob.parts(theta)), theta)
    assert torch.equal(prob.join(prob.split(theta)), theta)
    assert torch.equal(prob.join(W, alpha), theta)
    loss = prob.loss(theta)
    for r in range(3):
        want = _ref_loss(theta[r], prob.X[0], prob.y[0], m, 0.2, c)
        assert_close(loss[r], want, what=f"loss of row {r}")
    l2, _ = prob.loss_and_grad(theta)
    assert_close(l2, loss, what="loss_and_grad's loss")


def test_init_draws_in_the_documented_order() -> None:
    m, d, s, R = 3, 3, 0.5, 2
    prob = _problem(m=m, init_scale=s)
    theta = prob.init(R, generator=_gen(12))
    g = _gen(12)
    U = torch.randn(R, m, d, generator=g, dtype=DT) * s / math.sqrt(d)
    gamma = torch.randn(R, m, generator=g, dtype=DT) * (s / math.sqrt(m))
    b = torch.randn(R, m, generator=g, dtype=DT) * (s / math.sqrt(m))
    alpha = torch.randn(R, m, generator=g, dtype=DT) * (s / math.sqrt(m))
    assert torch.equal(theta, prob.join(U, gamma, b, alpha))
    assert theta.dtype == DT and theta.device == torch.device("cpu")
    one = prob.join(U[0], gamma[0], b[0], alpha[0])  # one network -> (1, P)
    assert one.shape == (1, prob.n_params) and torch.equal(one, theta[:1])


# ----------------------------------------------------------------------- derivatives
def test_grad_hessian_hvp_against_autograd_of_the_reference() -> None:
    m, beta, c = 3, 0.4, 0.8
    prob = _problem(m=m, beta=beta, bias_scale=c)
    theta = _point(prob, seed=3)
    _off_kinks(prob, theta)
    X, y = prob.X[0], prob.y[0]
    loss, grad = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    assert H.shape == (3, prob.n_params, prob.n_params)
    v = torch.randn(theta.shape, generator=_gen(4), dtype=DT)
    hv = prob.hvp(theta, v)
    assert_close(prob.grad(theta), grad, what="grad vs loss_and_grad")

    def ref(t: torch.Tensor) -> torch.Tensor:
        return _ref_loss(t, X, y, m, beta, c)

    for r in range(theta.shape[0]):
        assert_close(grad[r], jacrev(ref)(theta[r]), what=f"grad vs autograd, row {r}")
        # forward-over-closed-form vs reverse-over-reverse: the same derivative summed in
        # another order (entries ~1e1, measured errors ~1e-15), so the defaults hold
        H_ref = jacrev(jacrev(ref))(theta[r])
        assert_close(H[r], H_ref, what=f"hessian vs autograd, row {r}")
        assert_close(hv[r], H_ref @ v[r], what=f"hvp vs autograd's hessian @ v, row {r}")


def test_residuals_and_their_jacobian_against_autograd_of_the_reference() -> None:
    m, beta, c = 3, 0.25, 1.3
    prob = _problem(m=m, beta=beta, bias_scale=c)
    theta = _point(prob, seed=5)
    _off_kinks(prob, theta)
    assert isinstance(prob, Residuals)
    X, y = prob.X[0], prob.y[0]
    r = prob.residuals(theta)
    r2, J = prob.residuals_and_jacobian(theta)
    P = prob.n_params
    assert r.shape == (3, prob.n + 3 * m) and J.shape == (3, prob.n + 3 * m, P)
    assert_close(r2, r, what="residuals_and_jacobian's r")
    assert_close(0.5 * r.square().sum(1), prob.loss(theta), what="|r|^2 / 2 vs loss")
    for i in range(3):

        def ref(t: torch.Tensor) -> torch.Tensor:
            return _ref_residuals(t, X, y, m, beta, c)

        assert_close(r[i], ref(theta[i]), what=f"residuals vs reference, row {i}")
        assert_close(J[i], jacrev(ref)(theta[i]), what=f"Jacobian vs autograd, row {i}")
    U_cols = [j * (prob.d + 2) + k for j in range(m) for k in range(prob.d)]
    assert float(J[:, prob.n :, U_cols].abs().max()) == 0.0  # u is not penalized
    # least squares: the gradient is J' r
    assert_close(prob.grad(theta), (J.transpose(1, 2) @ r[..., None])[..., 0], what="J' r")


def test_a_dead_neuron_follows_autograds_kink_convention() -> None:
    """gamma_j = b_j = 0 puts every sample of neuron j on the kink: relu'(0) = 0."""
    m, beta = 3, 0.3
    prob = _problem(m=m, beta=beta)
    theta = _point(prob, seed=6)
    W, _ = prob.split(theta)
    W[:, 1, prob.d :] = 0.0  # gamma_1 = b_1 = 0 (a view into theta)
    X, y = prob.X[0], prob.y[0]

    def ref(t: torch.Tensor) -> torch.Tensor:
        return _ref_loss(t, X, y, m, beta, 1.0)

    grad, H = prob.grad(theta), prob.hessian(theta)
    for r in range(3):
        assert_close(grad[r], jacrev(ref)(theta[r]), what=f"grad at the kink, row {r}")
        H_ref = jacrev(jacrev(ref))(theta[r])
        assert_close(H[r], H_ref, what=f"hessian at the kink, row {r}")


# ------------------------------------------------------------------------ invariances
def test_loss_is_invariant_to_the_scale_of_each_u() -> None:
    prob = _problem(m=3)
    theta = _point(prob, seed=7)
    U, gamma, b, alpha = prob.parts(theta)
    scale = torch.tensor([0.1, 3.0, 17.0], dtype=DT)[None, :, None]
    moved = prob.join(U * scale, gamma, b, alpha)
    assert_close(prob.loss(moved), prob.loss(theta), what="loss at u_j -> c_j u_j")
    # hence the gradient in u_j is orthogonal to u_j
    gU = prob.parts(prob.grad(theta))[0]
    # u_j . g_j cancels terms of size |u_j| |g_j| < 1: the default atol covers the rounding
    assert_close((U * gU).sum(2), torch.zeros(3, 3, dtype=DT), what="u_j . g_u_j")


def test_loss_is_invariant_along_directions_constant_over_the_samples() -> None:
    X, y = _data(n=7, d=3, seed=8)
    X = torch.cat([X, torch.ones(7, 1, dtype=DT)], dim=1)  # a ones column: X e_last = 1
    prob = ReluBatchNorm(X, y, width=3, beta=0.2)
    theta = _point(prob, seed=9)
    U, gamma, b, alpha = prob.parts(theta)
    w = torch.zeros(4, dtype=DT)
    w[-1] = 1.0
    t = torch.tensor([-2.0, 0.5, 40.0], dtype=DT)[None, :, None]
    moved = prob.join(U + t * w, gamma, b, alpha)
    # centring cancels the constant (up to 40) in X u_j: rounding ~40 eps, well in rtol
    assert_close(prob.loss(moved), prob.loss(theta), what="loss at u_j + t w")
    gU = prob.parts(prob.grad(theta))[0]
    assert_close(gU[..., -1], torch.zeros(3, 3, dtype=DT), what="gradient along the ones column")


def test_loss_is_invariant_to_a_linear_change_of_the_inputs() -> None:
    X, y = _data(n=7, d=3, seed=10)
    A = torch.randn(3, 3, generator=_gen(11), dtype=DT) + 2 * torch.eye(3, dtype=DT)
    prob = ReluBatchNorm(X, y, width=3, beta=0.2)
    moved_prob = ReluBatchNorm(X @ A, y, width=3, beta=0.2)
    theta = _point(prob, seed=12)
    U, gamma, b, alpha = prob.parts(theta)
    U_new = torch.linalg.solve(A, U.transpose(1, 2)).transpose(1, 2)  # u_j -> A^{-1} u_j
    moved = moved_prob.join(U_new, gamma, b, alpha)
    # X A A^{-1} u_j = X u_j up to the solve's rounding, ~cond(A) eps (cond(A) ~ 2 here)
    assert_close(moved_prob.loss(moved), prob.loss(theta), what="loss at (X A, A^-1 u)")


def test_neuron_permutation_moves_the_gradient_along() -> None:
    prob = _problem(m=4, beta=0.5)
    theta = _point(prob, seed=13)
    W, alpha = prob.split(theta)
    p = torch.tensor([2, 0, 3, 1])
    moved = prob.join(W[:, p], alpha[:, p])
    assert not torch.equal(moved, theta)
    assert_close(prob.loss(moved), prob.loss(theta), what="loss at P.theta")
    gW, ga = prob.split(prob.grad(theta))
    assert_close(prob.grad(moved), prob.join(gW[:, p], ga[:, p]), what="grad at P.theta")


# --------------------------------------------------------------------------- predict
def test_predict_on_the_training_inputs_is_the_fit() -> None:
    prob = _problem(m=3, bias_scale=0.4)
    theta = _point(prob, seed=14)
    fit = prob.residuals(theta)[:, : prob.n] + prob.y
    assert_close(prob.predict(theta), fit, what="predict() vs A alpha")
    assert_close(prob.predict(theta, prob.X[0]), fit, what="predict(X) vs A alpha")


def test_predict_on_new_inputs_uses_the_training_statistics() -> None:
    c = 0.7
    X, y = _data(n=6, d=2, seed=15)
    prob = ReluBatchNorm(X, y, width=1, beta=0.1, bias_scale=c)
    theta = _point(prob, R=2, seed=16)
    U, gamma, b, alpha = prob.parts(theta)
    b.fill_(2.0)  # the neuron active on most inputs (a view into theta), so outputs differ
    Xt = torch.randn(4, 2, generator=_gen(17), dtype=DT)
    pred = prob.predict(theta, Xt)
    assert pred.shape == (2, 4)
    assert float(pred.abs().min()) > 0.0
    for r in range(2):  # the one neuron by hand
        z = X @ U[r, 0]
        mu, nu = z.mean(), torch.sqrt(((z - z.mean()) ** 2).sum())
        h = gamma[r, 0] * (Xt @ U[r, 0] - mu) / nu + c * b[r, 0]
        assert_close(pred[r], alpha[r, 0] * torch.relu(h), what=f"predict by hand, row {r}")
        zt = Xt @ U[r, 0]  # normalizing with the new batch's own statistics differs
        own = gamma[r, 0] * (zt - zt.mean()) / (zt - zt.mean()).norm() + c * b[r, 0]
        assert float((alpha[r, 0] * torch.relu(own) - pred[r]).abs().max()) > 1e-3
    with pytest.raises(ValueError, match="X_new has shape"):
        prob.predict(theta, Xt[:, :1])


# ----------------------------------------------------------------------------- rows
def test_per_row_data_equals_each_row_with_its_own_shared_problem() -> None:
    R, m = 3, 3
    X, y = _data(R=R, seed=18)
    prob = ReluBatchNorm(X, y, width=m, beta=0.3, bias_scale=0.5)
    assert not prob.shared and isinstance(prob, RowData)
    theta = _point(prob, R=R, seed=19)
    v = torch.randn(theta.shape, generator=_gen(20), dtype=DT)
    loss, grad = prob.loss_and_grad(theta)
    H, hv = prob.hessian(theta), prob.hvp(theta, v)
    res, J = prob.residuals_and_jacobian(theta)
    Xt = torch.randn(4, 3, generator=_gen(21), dtype=DT)
    pred, pred_train = prob.predict(theta, Xt), prob.predict(theta)
    for r in range(R):
        alone = ReluBatchNorm(X[r], y[r], width=m, beta=0.3, bias_scale=0.5)
        t = theta[r : r + 1]
        assert_close(loss[r : r + 1], alone.loss(t), what=f"loss, row {r}")
        assert_close(grad[r : r + 1], alone.grad(t), what=f"grad, row {r}")
        assert_close(H[r : r + 1], alone.hessian(t), what=f"hessian, row {r}")
        assert_close(hv[r : r + 1], alone.hvp(t, v[r : r + 1]), what=f"hvp, row {r}")
        r1, J1 = alone.residuals_and_jacobian(t)
        assert_close(res[r : r + 1], r1, what=f"residuals, row {r}")
        assert_close(J[r : r + 1], J1, what=f"Jacobian, row {r}")
        assert_close(pred[r : r + 1], alone.predict(t, Xt), what=f"predict, row {r}")
        assert_close(pred_train[r : r + 1], alone.predict(t), what=f"predict(), row {r}")
    rows = torch.tensor([2, 0])
    sub = prob.select(rows)
    assert torch.equal(sub.X, X[rows]) and torch.equal(sub.y, y[rows]) and torch.equal(prob.X, X)
    assert_close(sub.loss(theta[rows]), loss[rows], what="loss of selected rows")
    with pytest.raises(ValueError, match=r"takes \(3, 18\)"):
        prob.loss(theta[:2])  # rows own data: the batch must match them
    shared = ReluBatchNorm(X[0], y[0], width=m, beta=0.3)
    assert shared.select(rows) is shared
    assert shared.loss(_point(shared, R=5)).shape == (5,)  # any number of rows


def test_a_degenerate_neuron_gives_nan_in_its_row_only() -> None:
    prob = _problem(m=3)
    theta = _point(prob, seed=22)
    U, _, _, _ = prob.parts(theta)
    U[1, 2] = 0.0  # ||Zc_2|| = 0 in row 1 (a view into theta)
    loss, grad = prob.loss_and_grad(theta)
    assert bool(torch.isnan(loss[1])) and bool(torch.isnan(grad[1]).all())
    keep = torch.tensor([0, 2])
    assert bool(torch.isfinite(loss[keep]).all()) and bool(torch.isfinite(grad[keep]).all())
    assert bool(torch.isfinite(prob.hessian(theta)[keep]).all())


def test_global_min_is_a_value_not_known_optimum() -> None:
    prob = _problem(global_min=1)
    assert prob.global_min == 1.0 and isinstance(prob.global_min, float)
    assert _problem().global_min is None
    assert not isinstance(prob, KnownOptimum)
    assert ReluBatchNorm(*_data(), width=2, beta=0.1, bias_scale=1 / math.sqrt(7)).bias_scale > 0


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"X": "one"}, "n >= 2 samples"),
        ({"X": "int"}, "floating-point"),
        ({"y": "short"}, "do not fit"),
        ({"width": 0}, "width must be a positive"),
        ({"beta": 0.0}, "beta must be a finite number > 0"),
        ({"beta": -1.0}, "beta must be a finite number > 0"),
        ({"beta": math.inf}, "beta must be a finite number > 0"),
        ({"bias_scale": 0.0}, "bias_scale must be a finite number > 0"),
        ({"bias_scale": -0.5}, "bias_scale must be a finite number > 0"),
        ({"bias_scale": math.nan}, "bias_scale must be a finite number > 0"),
        ({"bias_scale": True}, "bias_scale must be a finite number > 0"),
        ({"init_scale": 0.0}, "init_scale"),
        ({"global_min": -0.1}, "global_min must be"),
        ({"X": "rows", "global_min": 0.1}, "shared sample"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())),
)
def test_bad_arguments(kw, words) -> None:
    X, y = _data(n=5, d=2)
    args = {"width": 2, "beta": 0.1}
    change = {"one": X[:1], "int": X.long(), "short": y[:-1], "rows": X[None].expand(2, -1, -1)}
    data = {"X": X, "y": y}
    for k, v in kw.items():
        if k in data:
            data[k] = change[v]
        else:
            args[k] = v
    if data["X"].dim() == 2 and data["X"].shape[0] == 1:
        data["y"] = y[:1]  # one sample, shapes that fit
    if data["X"].dim() == 3:
        data["y"] = y[None].expand(2, -1)
    with pytest.raises(ValueError, match=words):
        ReluBatchNorm(data["X"], data["y"], **args)


def test_bad_join_theta_and_v() -> None:
    prob = _problem(m=2)  # d = 3
    theta = _point(prob, R=2)
    U, gamma, b, alpha = prob.parts(theta)
    W, _ = prob.split(theta)
    with pytest.raises(ValueError, match="do not fit"):
        prob.join(U[:, :, :2], gamma, b, alpha)
    with pytest.raises(ValueError, match="do not fit"):
        prob.join(U, gamma[:1], b, alpha)
    with pytest.raises(ValueError, match="do not fit"):
        prob.join(U[0], gamma[0], b, alpha[0])  # one network with a batched b
    with pytest.raises(ValueError, match="do not fit"):
        prob.join(W[:, :, :-1], alpha)
    with pytest.raises(ValueError, match="3 blocks"):
        prob.join(U, gamma, alpha)
    with pytest.raises(ValueError, match="theta has shape"):
        prob.loss(theta[:, :-1])
    with pytest.raises(ValueError, match="v has shape"):
        prob.hvp(theta, theta[:1])
