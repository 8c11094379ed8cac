"""UnivariateReLU: the objective, its derivatives, conservation, init, rows and bad arguments.

The conformance suite (tests/problems/test_conformance.py) holds the class to the Problem
protocol and its capabilities' contracts as well; this file checks what is particular to
it against a reference written out here, float64 throughout, at random points away from
the ReLU kinks (one test puts a sample on a kink on purpose). Tolerances are the float64
defaults of ``_tolerances`` (rtol = atol = 1e-12: two computations of the same value in
another order) unless a test says otherwise.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from _tolerances import assert_close
from landscope.problems import (
    INITS,
    Factored,
    KnownOptimum,
    Residuals,
    RowData,
    UnivariateReLU,
)

DT = torch.float64
EPS = torch.finfo(DT).eps


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(n: int = 9, seed: int = 0, R: int | None = None):
    g = _gen(seed)
    shape = (n,) if R is None else (R, n)
    x = torch.randn(*shape, generator=g, dtype=DT)
    return x, torch.randn(*shape, generator=g, dtype=DT)


def _problem(m: int = 4, **kw) -> UnivariateReLU:
    x, y = _data()
    return UnivariateReLU(x, y, width=m, **kw)


def _point(prob: UnivariateReLU, R: int = 3, seed: int = 1) -> torch.Tensor:
    """init moved off its special structure (symmetric pairs, zero linear term)."""
    theta = prob.init(R, generator=_gen(seed))
    return theta + 0.3 * torch.randn(theta.shape, generator=_gen(seed + 50), dtype=DT)


# ------------------------------------------------------------------ the reference
def _ref_neuron(row: torch.Tensor, i: int):
    """(a_i, b_i, c_i) of one row (P,), read off the documented layout."""
    return row[3 * i], row[3 * i + 1], row[3 * i + 2]


def _ref_f(row: torch.Tensor, x: torch.Tensor, m: int, linear: bool) -> torch.Tensor:
    """f(x) of one row, neuron by neuron: sum_i c_i relu(a_i x + b_i) [+ v x + w]."""
    f = torch.zeros_like(x)
    for i in range(m):
        a, b, c = _ref_neuron(row, i)
        f = f + c * torch.relu(a * x + b)
    if linear:
        f = f + row[3 * m] * x + row[3 * m + 1]
    return f


def _ref_residuals(row, x, y, m: int, linear: bool) -> torch.Tensor:
    return _ref_f(row, x, m, linear) - y


def _ref_loss(row, x, y, m: int, linear: bool) -> torch.Tensor:
    return 0.5 * (_ref_residuals(row, x, y, m, linear) ** 2).sum()


def _off_kinks(prob: UnivariateReLU, theta: torch.Tensor) -> None:
    a, b, _, _ = prob.parts(theta)
    Z = prob.X[..., 0][..., None] * a[:, None] + b[:, None]
    assert float(Z.abs().min()) > 1e-6, "a sample sits on a kink"


# ---------------------------------------------------------------------- layout, loss
@pytest.mark.parametrize("linear", [False, True])
def test_layout_parts_join_and_loss_against_a_direct_computation(linear: bool) -> None:
    m = 4
    prob = _problem(m=m, linear=linear)
    P = 3 * m + (2 if linear else 0)
    assert (prob.n, prob.d, prob.n_params) == (9, 1, P)
    assert prob.symmetry == "Sn" and isinstance(prob, Factored)
    theta = _point(prob)
    W, c, lin = prob.split(theta)
    assert W.shape == (3, m, 2) and c.shape == (3, m) and lin.shape == (3, P - 3 * m)
    assert torch.equal(W[1, 2], theta[1, 6:8]) and float(c[1, 2]) == float(theta[1, 8])
    assert W.data_ptr() == theta.data_ptr()  # views
    a, b, c2, lin2 = prob.parts(theta)
    assert torch.equal(a, theta[:, 0 : 3 * m : 3]) and torch.equal(b, theta[:, 1 : 3 * m : 3])
    assert torch.equal(c2, c) and torch.equal(lin2, lin)
    if linear:
        assert torch.equal(lin, theta[:, -2:])
    assert torch.equal(prob.join(a, b, c, lin if linear else None), theta)
    assert torch.equal(prob.join(prob.parts(theta)), theta)
    assert torch.equal(prob.join(prob.split(theta)), theta)
    one = prob.join(a[2], b[2], c[2], lin[2] if linear else None)  # one network -> (1, P)
    assert one.shape == (1, P) and torch.equal(one, theta[2:])
    loss = prob.loss(theta)
    for r in range(3):
        want = _ref_loss(theta[r], prob.X[0, :, 0], prob.y[0], m, linear)
        assert_close(loss[r], want, what=f"loss of row {r}")
    l2, _ = prob.loss_and_grad(theta)
    assert_close(l2, loss, what="loss_and_grad's loss")
    # 0 when m >= n (the width can interpolate n distinct points), else unknown
    assert prob.global_min == (0.0 if m >= prob.n else None)
    assert not isinstance(prob, KnownOptimum)


@pytest.mark.parametrize("kind", INITS)
def test_init_draws_in_the_documented_order(kind: str) -> None:
    m, R, ratio, scale = 6, 2, 0.7, 1.8
    prob = _problem(m=m, init_kind=kind, ratio=ratio, scale=scale, linear=True)
    theta = prob.init(R, generator=_gen(12))
    sw, sc = math.sqrt(scale / (m * ratio)), math.sqrt(scale * ratio / m)
    g, k = _gen(12), m // 2
    if kind == "gaussian":
        a = torch.randn(R, k, generator=g, dtype=DT) * sw
        b = torch.randn(R, k, generator=g, dtype=DT) * sw
    else:
        lo, hi = prob.interval
        t = lo + (hi - lo) * torch.rand(R, k, generator=g, dtype=DT)
        a = (torch.randint(0, 2, (R, k), generator=g).to(DT) * 2 - 1) * sw
        b = -a * t
    c = torch.randn(R, k, generator=g, dtype=DT) * sc
    a, b, c = torch.cat([a, a], 1), torch.cat([b, b], 1), torch.cat([c, -c], 1)
    assert torch.equal(theta, prob.join(a, b, c, torch.zeros(R, 2, dtype=DT)))
    assert theta.dtype == DT and theta.device == torch.device("cpu")


# ----------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("kind", INITS)
@pytest.mark.parametrize("linear", [False, True])
def test_grad_hessian_hvp_against_autograd_of_the_reference(linear: bool, kind: str) -> None:
    m = 4
    prob = _problem(m=m, linear=linear, init_kind=kind, ratio=1.5)
    theta = _point(prob, seed=3)  # random (v, w) as well when linear
    _off_kinks(prob, theta)
    x, y = prob.X[0, :, 0], prob.y[0]
    loss, grad = prob.loss_and_grad(theta)
    H = prob.hessian(theta)
    assert H.shape == (3, prob.n_params, prob.n_params)
    v = torch.randn(theta.shape, generator=_gen(4), dtype=DT)
    hv = prob.hvp(theta, v)
    assert_close(prob.grad(theta), grad, what="grad vs loss_and_grad")

    def ref(t: torch.Tensor) -> torch.Tensor:
        return _ref_loss(t, x, y, m, linear)

    for r in range(theta.shape[0]):
        assert_close(loss[r], ref(theta[r]), what=f"loss vs reference, row {r}")
        assert_close(grad[r], jacrev(ref)(theta[r]), what=f"grad vs autograd, row {r}")
        # closed form vs reverse-over-reverse: the same sums in another order (entries
        # ~1e1, rounding ~1e-15), so the defaults hold
        H_ref = jacrev(jacrev(ref))(theta[r])
        assert_close(H[r], H_ref, what=f"hessian vs autograd, row {r}")
        assert_close(hv[r], H_ref @ v[r], what=f"hvp vs autograd's hessian @ v, row {r}")


@pytest.mark.parametrize("kind", INITS)
@pytest.mark.parametrize("linear", [False, True])
def test_residuals_and_their_jacobian_against_autograd(linear: bool, kind: str) -> None:
    m = 3
    prob = _problem(m=m, linear=linear, init_kind=kind, symmetric=False)
    theta = _point(prob, seed=5)
    _off_kinks(prob, theta)
    assert isinstance(prob, Residuals)
    x, y = prob.X[0, :, 0], prob.y[0]
    r = prob.residuals(theta)
    r2, J = prob.residuals_and_jacobian(theta)
    assert r.shape == (3, prob.n) and J.shape == (3, prob.n, prob.n_params)
    assert_close(r2, r, what="residuals_and_jacobian's r")
    assert_close(0.5 * r.square().sum(1), prob.loss(theta), what="|r|^2 / 2 vs loss")

    def ref(t: torch.Tensor) -> torch.Tensor:
        return _ref_residuals(t, x, y, m, linear)

    for i in range(3):
        assert_close(r[i], ref(theta[i]), what=f"residuals vs reference, row {i}")
        assert_close(J[i], jacrev(ref)(theta[i]), what=f"Jacobian vs autograd, row {i}")
    # least squares: the gradient is J' r
    assert_close(prob.grad(theta), (J.transpose(1, 2) @ r[..., None])[..., 0], what="J' r")


@pytest.mark.parametrize("linear", [False, True])
def test_a_sample_on_a_kink_follows_autograds_convention(linear: bool) -> None:
    """b_i = -a_i x_s puts sample s exactly on neuron i's kink (z = 0): relu'(0) = 0."""
    m = 4
    prob = _problem(m=m, linear=linear)
    theta = _point(prob, seed=6)
    x, y = prob.X[0, :, 0], prob.y[0]
    W, _, _ = prob.split(theta)
    W[:, 1, 1] = -W[:, 1, 0] * x[2]  # a view into theta; fl(a x) - fl(a x) = 0 exactly
    W[:, 3, 1] = -W[:, 3, 0] * x[5]
    a, b, _, _ = prob.parts(theta)
    assert float((x[2] * a[:, 1] + b[:, 1]).abs().max()) == 0.0

    def ref(t: torch.Tensor) -> torch.Tensor:
        return _ref_loss(t, x, y, m, linear)

    grad, H = prob.grad(theta), prob.hessian(theta)
    v = torch.randn(theta.shape, generator=_gen(7), dtype=DT)
    hv = prob.hvp(theta, v)
    for r in range(3):
        assert_close(grad[r], jacrev(ref)(theta[r]), what=f"grad at the kink, row {r}")
        H_ref = jacrev(jacrev(ref))(theta[r])
        assert_close(H[r], H_ref, what=f"hessian at the kink, row {r}")
        assert_close(hv[r], H_ref @ v[r], what=f"hvp at the kink, row {r}")


# ----------------------------------------------------------------------- conservation
def _gd(prob: UnivariateReLU, theta: torch.Tensor, h: float, steps: int):
    """Plain GD; returns the end point and sum_k h^2 (g_a^2 + g_b^2 + g_c^2) per neuron."""
    bound = torch.zeros(theta.shape[0], prob.width, dtype=DT)
    for _ in range(steps):
        g = prob.grad(theta)
        ga, gb, gc, _ = prob.parts(g)
        bound += h * h * (ga * ga + gb * gb + gc * gc)
        theta = theta - h * g
    return theta, bound


@pytest.mark.parametrize("kind", INITS)
@pytest.mark.parametrize("linear", [False, True])
def test_conserved_quantity_drifts_like_the_step(linear: bool, kind: str) -> None:
    """q_i = c_i^2 - a_i^2 - b_i^2: its flow derivative vanishes, so one GD step changes it
    by exactly h^2 (g_c^2 - g_a^2 - g_b^2), and over a fixed time T the drift is ~ T h C."""
    x = torch.linspace(-1.0, 1.0, 10, dtype=DT)
    prob = UnivariateReLU(x, torch.sin(3 * x), width=6, linear=linear, init_kind=kind,
                          symmetric=False)  # fmt: skip
    theta0 = prob.init(4, generator=_gen(1))
    if linear:
        theta0[:, -2:] = torch.tensor([0.3, -0.2], dtype=DT)
    a, b, c, _ = prob.parts(theta0)
    assert_close(prob.conserved(theta0), c * c - a * a - b * b, what="conserved")
    q0 = prob.conserved(theta0)

    # the flow: c g_c - a g_a - b g_b = 0 per neuron (terms ~1, rounding ~1e-15)
    ga, gb, gc, _ = prob.parts(prob.grad(theta0))
    assert_close(c * gc - a * ga - b * gb, torch.zeros_like(q0), what="d q / dt")
    # one step of GD: q changes by h^2 (g_c^2 - g_a^2 - g_b^2) exactly, up to the rounding
    # of q itself (|q| <= ~2, so a few eps * 2 ~ 1e-15; atol 1e-13 leaves 100x room)
    h = 0.01
    one = theta0 - h * prob.grad(theta0)
    want = h * h * (gc * gc - ga * ga - gb * gb)
    assert_close(prob.conserved(one) - q0, want, atol=1e-13, rtol=0, what="one GD step")

    # total time T = 2 at h and h / 2 (200 and 400 steps): h lambda_max <= 0.37 along these
    # paths (lambda_max <= 37 measured), far from the stability limit 2
    T, drift = 2.0, []
    for step in (h, h / 2):
        end, bound = _gd(prob, theta0, step, round(T / step))
        dq = prob.conserved(end) - q0
        # |dq_i| <= sum_k h^2 |g_c^2 - g_a^2 - g_b^2| <= the bound summed along the path
        # (rounding of q adds ~1e-15 per step: 1e-12 covers 400 steps with room)
        assert bool((dq.abs() <= bound + 1e-12).all()), "drift above sum h^2 |g|^2"
        # and small against q itself (|q| ~ 1): measured max |dq| <= 0.015 at h = 0.01,
        # the bound 0.05 leaves ~3x room
        assert float(dq.abs().max()) < 0.05
        drift.append(dq.norm(dim=1))  # per row, over the neurons
        assert bool(torch.isfinite(prob.loss(end)).all())
    # a Riemann sum h sum_k (g_c^2 - g_a^2 - g_b^2) of a fixed path integral: halving h
    # halves it (measured ratios 2.01 - 2.16 per row); [1.6, 2.4] allows the O(h) change
    ratio = drift[0] / drift[1]
    assert bool(((ratio >= 1.6) & (ratio <= 2.4)).all()), f"drift ratios {ratio.tolist()}"


# ------------------------------------------------------------------------------ init
@pytest.mark.parametrize("kind", INITS)
@pytest.mark.parametrize("linear", [False, True])
def test_symmetric_init_is_the_zero_function(linear: bool, kind: str) -> None:
    m = 6
    prob = _problem(m=m, linear=linear, init_kind=kind, scale=3.0)
    theta = prob.init(5, generator=_gen(8))
    a, b, c, lin = prob.parts(theta)
    k = m // 2
    # neurons k and k + m/2: the same (a, b), opposite c, bitwise
    assert torch.equal(a[:, :k], a[:, k:]) and torch.equal(b[:, :k], b[:, k:])
    assert torch.equal(c[:, :k], -c[:, k:])
    assert bool((c != 0).all())
    if linear:
        assert float(lin.abs().max()) == 0.0
    # f = 0 as a function: the pairs cancel in the sum over neurons, whose rounding is at
    # most (m - 1) eps sum_i |c_i relu(z_i)| (f measured ~1e-16, not always 0.0 bitwise)
    xt = torch.linspace(-4.0, 4.0, 41, dtype=DT)
    for pts in (None, xt):
        f = prob.predict(theta, pts)
        xs = prob.X[0, :, 0] if pts is None else pts
        terms = (c[:, None] * torch.relu(xs[:, None] * a[:, None] + b[:, None])).abs().sum(-1)
        assert f.shape == (5, xs.shape[0])
        assert bool((f.abs() <= (m - 1) * EPS * terms).all()), float(f.abs().max())
    # so the residuals start at -y, and the loss at |y|^2 / 2 (up to that rounding)
    assert_close(prob.residuals(theta), -prob.y.expand(5, -1), what="residuals at init")
    with pytest.raises(ValueError, match="width must be even"):
        _problem(m=5, init_kind=kind)
    assert _problem(m=5, init_kind=kind, symmetric=False).init(2).shape == (2, 15)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize(("ratio", "scale"), [(0.1, 1.0), (4.0, 2.5)])
def test_init_scales(ratio: float, scale: float, symmetric: bool) -> None:
    m, R = 10, 4000
    g_prob = _problem(m=m, ratio=ratio, scale=scale, symmetric=symmetric)
    u_prob = _problem(m=m, ratio=ratio, scale=scale, symmetric=symmetric, init_kind="uniform")
    sw, sc = math.sqrt(scale / (m * ratio)), math.sqrt(scale * ratio / m)
    k = m // 2 if symmetric else m  # independent draws per row: the rest repeat them
    a, b, c, _ = g_prob.parts(g_prob.init(R, generator=_gen(9)))

    # sqrt(mean(z^2)) of N zero-mean normal draws estimates sigma with a relative standard
    # error 1 / sqrt(2 N): N >= 4000 * 5 = 2e4 gives 0.5%; 3% is 6 standard errors
    def rms(t: torch.Tensor) -> float:
        return float(t[:, :k].square().mean().sqrt())

    for name, t, want in (("a", a, sw), ("b", b, sw), ("c", c, sc)):
        assert abs(rms(t) / want - 1) < 0.03, f"std of {name}: {rms(t)} vs {want}"
    a, b, c, _ = u_prob.parts(u_prob.init(R, generator=_gen(10)))
    assert abs(rms(c) / sc - 1) < 0.03, f"std of c (uniform init): {rms(c)} vs {sc}"
    # uniform: |a_i| = sigma_w for every neuron (exactly: a sign times sigma_w), signs
    # balanced (share of + has standard error 0.5 / sqrt(N) = 0.35%: 0.03 is 8 of them)
    assert torch.equal(a.abs(), torch.full_like(a, sw))
    assert abs(float((a[:, :k] > 0).to(DT).mean()) - 0.5) < 0.03
    # knots -b / a in [lo, hi]: b = -a t rounds, and so does -b / a, by ~1 ulp of t
    lo, hi = u_prob.interval
    t = u_prob.knots(u_prob.join(a, b, c))
    slack = 4 * EPS * max(abs(lo), abs(hi))
    assert float(t.min()) >= lo - slack and float(t.max()) <= hi + slack
    # and spread uniformly: mean (lo + hi) / 2, std (hi - lo) / sqrt(12), each to ~0.4%
    # of (hi - lo) at N = 2e4 draws; 3% of (hi - lo) is ~8 standard errors
    tk = t[:, :k]
    assert abs(float(tk.mean()) - (lo + hi) / 2) < 0.03 * (hi - lo)
    assert abs(float(tk.std()) - (hi - lo) / math.sqrt(12)) < 0.03 * (hi - lo)


def test_default_and_given_interval() -> None:
    x, y = _data(n=9, seed=11)
    prob = UnivariateReLU(x, y, width=2)
    lo, hi = float(x.min()), float(x.max())
    pad = 0.5 * (hi - lo)
    assert prob.interval == (lo - pad, hi + pad)
    given = UnivariateReLU(x, y, width=2, interval=(-1, 2), init_kind="uniform")
    assert given.interval == (-1.0, 2.0)
    t = given.knots(given.init(200, generator=_gen(12)))
    assert float(t.min()) >= -1.0 - 1e-15 and float(t.max()) <= 2.0 + 1e-15  # ~1 ulp
    # per-row data: the range of all rows
    X, Y = _data(n=9, seed=13, R=3)
    rows = UnivariateReLU(X, Y, width=2)
    lo, hi = float(X.min()), float(X.max())
    assert rows.interval == (lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo))


# --------------------------------------------------------------------- predict, knots
@pytest.mark.parametrize("linear", [False, True])
def test_predict_and_knots_against_a_direct_formula(linear: bool) -> None:
    m = 5
    prob = _problem(m=m, linear=linear, symmetric=False)
    theta = _point(prob, seed=14)
    xt = torch.randn(7, generator=_gen(15), dtype=DT)
    pred = prob.predict(theta, xt)
    assert pred.shape == (3, 7)
    for r in range(3):
        assert_close(pred[r], _ref_f(theta[r], xt, m, linear), what=f"predict, row {r}")
    # one set of points per row (R, n')
    xr = torch.randn(3, 4, generator=_gen(16), dtype=DT)
    pr = prob.predict(theta, xr)
    for r in range(3):
        assert_close(pr[r], _ref_f(theta[r], xr[r], m, linear), what=f"predict (R, n'), row {r}")
    # at the samples: the fit, f = r + y
    assert_close(prob.predict(theta), prob.residuals(theta) + prob.y, what="predict()")
    assert_close(prob.predict(theta), prob.predict(theta, prob.X[0, :, 0]), what="predict(X)")
    # knots: -b_i / a_i, the same division
    knots = prob.knots(theta)
    assert knots.shape == (3, m)
    assert torch.equal(knots, -theta[:, 1 : 3 * m : 3] / theta[:, 0 : 3 * m : 3])
    for r, i in ((0, 1), (2, 4)):  # f is linear between knots: its kink sits at -b/a
        a, b, c = _ref_neuron(theta[r], i)
        assert float(a * knots[r, i] + b) == pytest.approx(0.0, abs=1e-14)  # ~eps |b|
    theta[0, 3] = 0.0  # a_1 = 0 in row 0: the knot is at infinity
    assert math.isinf(float(prob.knots(theta)[0, 1]))


def test_neuron_permutation_is_a_symmetry() -> None:
    prob = _problem(m=4, linear=True)
    theta = _point(prob, seed=17)
    W, c, lin = prob.split(theta)
    p = torch.tensor([2, 0, 3, 1])
    moved = prob.join((W[:, p], c[:, p], lin))
    assert not torch.equal(moved, theta)
    assert_close(prob.loss(moved), prob.loss(theta), what="loss at P.theta")
    gW, gc, gl = prob.split(prob.grad(theta))
    assert_close(prob.grad(moved), prob.join((gW[:, p], gc[:, p], gl)), what="grad at P.theta")
    # (a, b, c) -> (s a, s b, c / s), s > 0: the same function (relu is 1-homogeneous)
    s = torch.tensor([0.5, 3.0, 1.0, 7.0], dtype=DT)
    a, b, c, lin = prob.parts(theta)
    scaled = prob.join(s * a, s * b, c / s, lin)
    assert_close(prob.predict(scaled), prob.predict(theta), what="rescaled network")


# ----------------------------------------------------------------------------- rows
@pytest.mark.parametrize("linear", [False, True])
def test_per_row_data_equals_each_row_with_its_own_shared_problem(linear: bool) -> None:
    R, m = 3, 4
    X, y = _data(R=R, seed=18)
    prob = UnivariateReLU(X, y, width=m, linear=linear, init_kind="uniform")
    assert not prob.shared and isinstance(prob, RowData)
    assert prob.X.shape == (R, 9, 1)
    theta = _point(prob, R=R, seed=19)
    v = torch.randn(theta.shape, generator=_gen(20), dtype=DT)
    loss, grad = prob.loss_and_grad(theta)
    H, hv = prob.hessian(theta), prob.hvp(theta, v)
    res, J = prob.residuals_and_jacobian(theta)
    xt = torch.randn(5, generator=_gen(21), dtype=DT)
    pred, pred_train = prob.predict(theta, xt), prob.predict(theta)
    for r in range(R):
        alone = UnivariateReLU(X[r], y[r], width=m, linear=linear)
        t = theta[r : r + 1]
        assert_close(loss[r : r + 1], alone.loss(t), what=f"loss, row {r}")
        assert_close(grad[r : r + 1], alone.grad(t), what=f"grad, row {r}")
        assert_close(H[r : r + 1], alone.hessian(t), what=f"hessian, row {r}")
        assert_close(hv[r : r + 1], alone.hvp(t, v[r : r + 1]), what=f"hvp, row {r}")
        r1, J1 = alone.residuals_and_jacobian(t)
        assert_close(res[r : r + 1], r1, what=f"residuals, row {r}")
        assert_close(J[r : r + 1], J1, what=f"Jacobian, row {r}")
        assert_close(pred[r : r + 1], alone.predict(t, xt), what=f"predict, row {r}")
        assert_close(pred_train[r : r + 1], alone.predict(t), what=f"predict(), row {r}")
        assert_close(
            prob.conserved(theta)[r : r + 1], alone.conserved(t), what=f"conserved, row {r}"
        )
    # the same data as X (R, n, 1), and shared data as x (n, 1)
    as3 = UnivariateReLU(X[..., None], y, width=m, linear=linear)
    assert torch.equal(as3.X, prob.X) and torch.equal(as3.loss(theta), loss)
    col = UnivariateReLU(X[0][:, None], y[0], width=m, linear=linear)
    flat = UnivariateReLU(X[0], y[0], width=m, linear=linear)
    assert col.shared and torch.equal(col.loss(theta), flat.loss(theta))
    # select keeps rows and data aligned; the original keeps its data
    rows = torch.tensor([2, 0])
    sub = prob.select(rows)
    assert torch.equal(sub.X[..., 0], X[rows]) and torch.equal(sub.y, y[rows])
    assert torch.equal(prob.X[..., 0], X)
    assert_close(sub.loss(theta[rows]), loss[rows], what="loss of selected rows")
    assert_close(sub.grad(theta[rows]), grad[rows], what="grad of selected rows")
    assert_close(sub.hessian(theta[rows]), H[rows], what="hessian of selected rows")
    P = prob.n_params
    with pytest.raises(ValueError, match=rf"takes \(3, {P}\)"):
        prob.loss(theta[:2])  # rows own data: the batch must match them
    shared = UnivariateReLU(X[0], y[0], width=m, linear=linear)
    assert shared.select(rows) is shared
    assert shared.loss(_point(shared, R=5)).shape == (5,)  # any number of rows


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"X": "2d"}, "one-dimensional"),
        ({"X": "rows2d"}, "one-dimensional"),
        ({"y": "short"}, "do not fit"),
        ({"X": "nan"}, "X contains NaN"),
        ({"X": "int"}, "floating-point"),
        ({"width": 0}, "width must be a positive"),
        ({"width": 3}, "width must be even"),
        ({"init_kind": "normal"}, "init_kind must be one of"),
        ({"ratio": 0.0}, "ratio must be a positive number"),
        ({"ratio": -1.0}, "ratio must be a positive number"),
        ({"ratio": math.inf}, "ratio must be a positive number"),
        ({"ratio": True}, "ratio must be a positive number"),
        ({"scale": 0.0}, "scale must be a positive number"),
        ({"scale": -2.0}, "scale must be a positive number"),
        ({"scale": math.nan}, "scale must be a positive number"),
        ({"interval": (1.0, 1.0)}, "interval must be"),
        ({"interval": (2.0, -1.0)}, "interval must be"),
        ({"interval": (0.0, math.inf)}, "interval must be"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())),
)
def test_bad_arguments(kw, words) -> None:
    x, y = _data(n=6)
    args = {"width": 2}
    change = {
        "2d": torch.randn(6, 2, generator=_gen(30), dtype=DT),  # X (n, 2) with y (n,)
        "rows2d": torch.randn(2, 6, 2, generator=_gen(31), dtype=DT),
        "short": y[:-1],
        "nan": x * math.nan,
        "int": x.long(),
    }
    data = {"X": x, "y": y}
    for k, v in kw.items():
        if k in data:
            data[k] = change[v]
        else:
            args[k] = v
    if data["X"].dim() == 3:
        data["y"] = y[None].expand(2, -1)
    with pytest.raises(ValueError, match=words):
        UnivariateReLU(data["X"], data["y"], **args)


@pytest.mark.parametrize("linear", [False, True])
def test_bad_join_theta_and_v(linear: bool) -> None:
    m = 4
    prob = _problem(m=m, linear=linear)
    theta = _point(prob, R=2)
    a, b, c, lin = prob.parts(theta)
    lin = lin if linear else None
    W, _, _ = prob.split(theta)
    with pytest.raises(ValueError, match="must each be"):
        prob.join(torch.cat([a, a[:, :1]], 1), b, c, lin)  # m + 1 neurons
    with pytest.raises(ValueError, match="must each be"):
        prob.join(a, b[:1], c, lin)
    with pytest.raises(ValueError, match="must each be"):
        prob.join(a[0], b[0], c, lin)  # one network with a batched c
    with pytest.raises(ValueError, match="W must be"):
        prob.join((torch.cat([W, W[..., :1]], 2), c, lin))
    with pytest.raises(ValueError, match="2 blocks"):
        prob.join((a, b))
    with pytest.raises(ValueError, match="give a, b and c"):
        prob.join(a, b)
    if linear:
        with pytest.raises(ValueError, match="has a linear term"):
            prob.join(a, b, c)  # missing
        with pytest.raises(ValueError, match="has a linear term"):
            prob.join(a, b, c, lin[:1])
        with pytest.raises(ValueError, match="has a linear term"):
            prob.join(a, b, c, torch.zeros(2, 3, dtype=DT))
    with pytest.raises(ValueError, match="theta has shape"):
        prob.loss(theta[:, :-1])
    with pytest.raises(ValueError, match="v has shape"):
        prob.hvp(theta, theta[:1])
    with pytest.raises(ValueError):
        prob.as_batch(torch.zeros(3, prob.n_params + 1, dtype=DT))
