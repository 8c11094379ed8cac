"""DropoutLinear: the closed-form expected loss against enumeration of the masks and Monte
Carlo, derivatives against autograd, the whitened minimizer against training, rows."""

from __future__ import annotations

import itertools

import pytest
import torch

from landscope.optim import GD, Stop, run
from landscope.problems import DropoutLinear, whitened_minimizer
from landscope.problems.dropout_linear import KINDS

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(m=9, d=3, o=2, seed=0):
    g = _gen(seed)
    return torch.randn(m, d, generator=g, dtype=F64), torch.randn(m, o, generator=g, dtype=F64)


def _white(m=40, d=3, o=3, seed=1):
    X, Y = _data(m, d, o, seed)
    L = torch.linalg.cholesky(X.T @ X / m)
    X = torch.linalg.solve_triangular(L, X.T, upper=False).T
    return X, Y


def _enumerated(prob: DropoutLinear, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """The expectation over masks by summing over every mask with its probability: the
    slow reference of the closed form (2^r or 2^(r d_in) masks)."""
    q, X, Y = prob.keep, prob.X, prob.Y
    shape = (prob.width,) if prob.kind == "dropout" else (prob.width, prob.d_in)
    total = torch.zeros((), dtype=F64)
    for bits in itertools.product((0.0, 1.0), repeat=int(torch.tensor(shape).prod())):
        b = torch.tensor(bits, dtype=F64).reshape(shape)
        p = torch.prod(b * q + (1 - b) * (1 - q))
        Vm = (b[:, None] * V) if prob.kind == "dropout" else b * V
        F = X @ (U @ Vm / q).T
        total = total + p * 0.5 * ((Y - F) ** 2).sum() / prob.m
    return total


@pytest.mark.parametrize("kind", KINDS)
def test_closed_form_equals_the_enumerated_expectation_and_its_derivatives(kind) -> None:
    X, Y = _data(m=6, d=2, o=2)
    prob = DropoutLinear(X, Y, width=2, keep=0.7, kind=kind)
    theta = prob.init(3, generator=_gen(2))
    ref = torch.stack([_enumerated(prob, *[t[0] for t in prob.split(row[None])])
                       for row in theta])  # fmt: skip
    # sums of 16 or 2^4 products of O(1) numbers: float64 round-off ~1e-15 relative
    torch.testing.assert_close(prob.loss(theta), ref, rtol=1e-12, atol=1e-14)

    def f(row):
        U, V = prob.split(row[None])
        return _enumerated(prob, U[0], V[0])

    for row, g, H in zip(theta, prob.grad(theta), prob.hessian(theta), strict=True):
        g_ref = torch.autograd.functional.jacobian(f, row)
        H_ref = torch.autograd.functional.hessian(f, row)
        torch.testing.assert_close(g, g_ref, rtol=1e-11, atol=1e-13)
        torch.testing.assert_close(H, H_ref, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_hvp_matches_the_hessian_and_loss_and_grad_agree(kind) -> None:
    prob = DropoutLinear(*_data(), width=4, keep=0.4, kind=kind)
    theta = prob.init(3, generator=_gen(3))
    v = torch.randn(theta.shape, generator=_gen(4), dtype=F64)
    H = prob.hessian(theta)
    torch.testing.assert_close(prob.hvp(theta, v), (H @ v[..., None])[..., 0], rtol=1e-12,
                               atol=1e-13)  # fmt: skip
    loss, g = prob.loss_and_grad(theta)
    torch.testing.assert_close(loss, prob.loss(theta), rtol=0, atol=1e-14)
    torch.testing.assert_close(g, prob.grad(theta), rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_monte_carlo_over_sampled_masks_matches_the_closed_form(kind) -> None:
    prob = DropoutLinear(*_data(m=12), width=3, keep=0.6, kind=kind)
    theta = prob.init(2, generator=_gen(5))
    gen = _gen(6)
    draws = 4000
    L = torch.stack([prob.sample_loss_and_grad(theta, gen)[0] for _ in range(draws)])
    G = torch.stack([prob.sample_loss_and_grad(theta, gen)[1] for _ in range(draws)])
    se_L = L.std(0) / draws**0.5
    se_G = G.std(0) / draws**0.5
    # within 4.5 standard errors: each of the 2 + 2 x 15 checks fails by chance with
    # probability < 1e-5 (the seed is fixed, so the test is deterministic anyway)
    assert ((L.mean(0) - prob.loss(theta)).abs() <= 4.5 * se_L).all()
    assert ((G.mean(0) - prob.grad(theta)).abs() <= 4.5 * se_G + 1e-12).all()


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_gradient_is_the_gradient_of_the_sampled_loss(kind) -> None:
    prob = DropoutLinear(*_data(), width=3, keep=0.5, kind=kind)
    theta = prob.init(2, generator=_gen(7))
    l1, g1 = prob.sample_loss_and_grad(theta, _gen(8))
    # the same masks again, and autograd of the loss they give
    l2, _ = prob.sample_loss_and_grad(theta, _gen(8))
    torch.testing.assert_close(l1, l2, rtol=0, atol=0)
    eps = 1e-6
    for j in (0, 5, theta.shape[1] - 1):
        e = torch.zeros_like(theta)
        e[:, j] = eps
        lp, _ = prob.sample_loss_and_grad(theta + e, _gen(8))
        lm, _ = prob.sample_loss_and_grad(theta - e, _gen(8))
        # central differences of a quadratic in theta_j: exact but for round-off
        torch.testing.assert_close(g1[:, j], (lp - lm) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_whitened_data_make_both_kinds_one_objective() -> None:
    X, Y = _white()
    a = DropoutLinear(X, Y, width=3, keep=0.6, kind="dropout")
    b = DropoutLinear(X, Y, width=3, keep=0.6, kind="dropconnect")
    assert a.whitened and b.whitened
    theta = a.init(3, generator=_gen(9))
    torch.testing.assert_close(a.loss(theta), b.loss(theta), rtol=1e-13, atol=1e-14)
    c = DropoutLinear(*_data(), width=3, keep=0.6)
    assert not c.whitened and c.global_min is None


def test_keep_one_is_the_plain_loss() -> None:
    X, Y = _data()
    prob = DropoutLinear(X, Y, width=3, keep=1.0)
    theta = prob.init(2, generator=_gen(10))
    F = torch.einsum("md,rod->rmo", X, prob.product(theta))
    plain = 0.5 * ((Y - F) ** 2).sum((1, 2)) / X.shape[0]
    torch.testing.assert_close(prob.loss(theta), plain, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("width, keep", [(1, 0.5), (2, 0.5), (3, 0.8), (5, 0.3), (8, 0.9)])
def test_training_reaches_the_closed_form_whitened_minimizer(width, keep) -> None:
    X, Y = _white(m=30, d=3, o=3, seed=11)
    prob = DropoutLinear(X, Y, width=width, keep=keep, init_scale=0.5)
    theta = prob.init(4, generator=_gen(12))
    lam_max = float(torch.linalg.eigvalsh(prob.hessian(theta))[:, -1].max())
    stop = Stop(grad_tol=1e-11, max_steps=200_000)
    res = run(prob, theta, GD(0.3 / max(lam_max, 1.0)), stop=stop)
    assert (res.status == 1).all(), res.grad_norm
    wm = whitened_minimizer(prob.C, width, keep, prob.y_sq)
    W = prob.product(res.theta)
    # ||grad|| <= 1e-11 at a nondegenerate-normal minimizer puts W within ~1e-10 of it
    assert (W - wm.W).abs().max() <= 1e-6
    torch.testing.assert_close(prob.loss(res.theta), torch.full((4,), wm.value, dtype=F64),
                               rtol=0, atol=1e-12)  # fmt: skip
    assert prob.global_min == pytest.approx(wm.value, abs=1e-15)
    # the common shrinkage: every nonzero singular value of W* is C's minus mu
    c = torch.linalg.svdvals(prob.C)
    s = wm.singular
    k = wm.active
    assert 1 <= k <= min(width, 3)
    torch.testing.assert_close(c[:k] - s[:k], torch.full((k,), wm.shrink, dtype=F64))
    assert (s[k:] == 0).all() and (c[k:] <= wm.shrink + 1e-12).all() if k < 3 else True


def test_minimizer_units_carry_equal_shares() -> None:
    X, Y = _white(m=30, d=3, o=3, seed=11)
    prob = DropoutLinear(X, Y, width=4, keep=0.5, init_scale=0.5)
    theta = prob.init(2, generator=_gen(13))
    res = run(prob, theta, GD(0.05), stop=Stop(grad_tol=1e-11, max_steps=200_000))
    U, V = prob.split(res.theta)
    share = U.norm(dim=1) * V.norm(dim=2)  # (R, r): ||u_i|| ||v_i||
    nuclear = torch.linalg.matrix_norm(prob.product(res.theta), ord="nuc")
    torch.testing.assert_close(share, (nuclear / 4)[:, None].expand_as(share), rtol=1e-8,
                               atol=1e-10)  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_the_flow_conserves_each_units_balance(kind) -> None:
    prob = DropoutLinear(*_data(), width=4, keep=0.5, kind=kind)
    theta = prob.init(3, generator=_gen(14))
    U, V = prob.split(theta)
    gU, gV = prob.split(prob.grad(theta))
    # d/dt (||u_i||^2 - ||v_i||^2) = -2 u_i.gU_i + 2 v_i.gV_i = 0 along theta' = -grad
    rate = -2 * (U * gU).sum(1) + 2 * (V * gV).sum(2)
    torch.testing.assert_close(rate, torch.zeros_like(rate), rtol=0, atol=1e-13)
    # and the unit rescaling it comes from keeps L
    t = torch.tensor([2.0, 0.5, -1.5, 3.0], dtype=F64)
    moved = prob.join(U * t, V / t[:, None])
    torch.testing.assert_close(prob.loss(moved), prob.loss(theta), rtol=1e-13, atol=1e-14)


def test_batched_rows_equal_one_row_runs() -> None:
    prob = DropoutLinear(*_data(), width=3, keep=0.7, kind="dropconnect")
    theta = prob.init(4, generator=_gen(15))
    stop = Stop(grad_tol=1e-10, max_steps=3000)
    batch = run(prob, theta, GD(0.05), stop=stop)
    for r in range(4):
        one = run(prob, theta[r : r + 1], GD(0.05), stop=stop)
        torch.testing.assert_close(one.theta[0], batch.theta[r], rtol=0, atol=1e-13)
        assert int(one.steps[0]) == int(batch.steps[r])
    rows = prob.loss(theta)
    for r in range(4):
        torch.testing.assert_close(prob.loss(theta[r : r + 1])[0], rows[r], rtol=0, atol=0)


def test_layout_split_join_and_product() -> None:
    prob = DropoutLinear(*_data(), width=4, keep=0.5)
    theta = prob.init(2, generator=_gen(16))
    U, V = prob.split(theta)
    assert U.shape == (2, 2, 4) and V.shape == (2, 4, 3)
    assert torch.equal(theta[:, :8].reshape(2, 2, 4), U)  # U row-major first
    assert torch.equal(prob.join(U, V), theta) and torch.equal(prob.join((U, V)), theta)
    torch.testing.assert_close(prob.product(theta), U @ V)
    assert prob.n_params == 4 * (2 + 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"keep": 0.0}, "keep"),
        ({"keep": 1.5}, "keep"),
        ({"keep": float("nan")}, "keep"),
        ({"kind": "dropblock"}, "kind"),
        ({"width": 0}, "width"),
        ({"init_scale": -1.0}, "init_scale"),
    ],
)
def test_bad_settings_are_one_sentence(kwargs, match) -> None:
    X, Y = _data()
    args = {"width": 2, "keep": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        DropoutLinear(X, Y, **args)


def test_bad_data_are_one_sentence() -> None:
    X, Y = _data()
    with pytest.raises(ValueError, match="do not fit"):
        DropoutLinear(X, Y[:-1], width=2, keep=0.5)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="X"):
        DropoutLinear(bad, Y, width=2, keep=0.5)
    prob = DropoutLinear(X, Y, width=2, keep=0.5)
    with pytest.raises(ValueError, match="theta has shape"):
        prob.loss(torch.zeros(2, 3, dtype=F64))
