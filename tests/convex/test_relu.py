"""Two-layer ReLU networks with weight decay as a convex program (Pilanci & Ergen 2020):
``fit_relu`` against an independent cvxpy + Clarabel solve over every pattern, the network
read off and its certificate, weak duality for arbitrary networks, the cone correlation
against brute force, the non-convex problem ``ReluWeightDecay`` at the optimum, torch
``Sequential`` models, the gated-ReLU relaxation, batches, and bad input."""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.convex import (
    ConvexReLUFit,
    dual_bound,
    fit_gated_relu,
    fit_relu,
    fit_relu_batch,
    interior_points,
    max_correlation,
    nonconvex_objective,
    optimality_gap,
    pattern_count,
    relu_from_gated,
    relu_patterns,
    sample_gates,
    sequential_weights,
)
from landscope.problems import ReluWeightDecay

DT = torch.float64
# fit_relu stops at a certified relative gap of 1e-6 (its default rtol), so its objective
# is p* to 1e-6 relative; cvxpy's value is p* to ~1e-9 (Clarabel at 1e-10 tolerances)
P_STAR = {"rtol": 1e-6, "atol": 0.0}
# cvxpy's primal value may sit below p* by its feasibility tolerance times the scale of
# the data: the slack allowed to bounds that must be <= p* exactly
SLACK = 1e-9


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The solver's many small torch ops (pricing every pattern) run one thread: with two,
    when other processes hold the cores, each op waits on the other thread (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _all_patterns(X: torch.Tensor) -> torch.Tensor:
    D = relu_patterns(X)
    return D[D.any(1)]


def _cvx_solve(problem: cp.Problem) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's solver-interface notices
        problem.solve(
            solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=500
        )
    assert problem.status == cp.OPTIMAL, problem.status
    return float(problem.value)


def cvx_relu(X: torch.Tensor, y: torch.Tensor, beta: float, D: torch.Tensor | None = None) -> float:
    """The convex program, written independently: over every pattern (or the given D),
    min 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||)
    s.t. (2 D_i - I) X v_i >= 0, (2 D_i - I) X w_i >= 0."""
    Xn, yn = X.numpy(), y.numpy()
    Dn = (_all_patterns(X) if D is None else D).numpy().astype(np.float64)  # (P, n)
    P, d = Dn.shape[0], Xn.shape[1]
    V, W = cp.Variable((P, d)), cp.Variable((P, d))
    pred = cp.sum(cp.multiply(Dn, (V - W) @ Xn.T), axis=0)
    penalty = cp.sum(cp.norm(V, 2, axis=1)) + cp.sum(cp.norm(W, 2, axis=1))
    S = 2 * Dn - 1
    cons = [cp.multiply(S, V @ Xn.T) >= 0, cp.multiply(S, W @ Xn.T) >= 0]
    objective = 0.5 * cp.sum_squares(pred - yn) + beta * penalty
    return _cvx_solve(cp.Problem(cp.Minimize(objective), cons))


def cvx_gated(X: torch.Tensor, y: torch.Tensor, beta: float, gates: torch.Tensor) -> float:
    """The gated-ReLU group lasso: min 1/2 ||sum_i D_i X v_i - y||^2 + beta sum_i ||v_i||,
    D_i = diag(1[X g_i >= 0]), no cone constraints."""
    Xn, yn = X.numpy(), y.numpy()
    Dn = (Xn @ gates.numpy().T >= 0).T.astype(np.float64)
    V = cp.Variable((Dn.shape[0], Xn.shape[1]))
    pred = cp.sum(cp.multiply(Dn, V @ Xn.T), axis=0)
    obj = 0.5 * cp.sum_squares(pred - yn) + beta * cp.sum(cp.norm(V, 2, axis=1))
    return _cvx_solve(cp.Problem(cp.Minimize(obj)))


def torch_objective(X, y, U, alpha, beta) -> float:
    """1/2 ||relu(X U') alpha - y||^2 + beta/2 (||U||_F^2 + ||alpha||^2), directly."""
    e = torch.relu(X @ U.T) @ alpha - y
    return float(0.5 * e @ e + 0.5 * beta * (U.square().sum() + alpha.square().sum()))


# ------------------------------------------------------------------------ instances
def _data(name: str) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Tiny float64 instances: Gaussian X (with or without a ones column), Gaussian y."""
    ones = lambda n: torch.ones(n, 1, dtype=DT)  # noqa: E731
    g = _gen(sum(map(ord, name)))
    if name == "planted":  # y from a two-neuron ReLU teacher, no noise
        X = torch.randn(15, 3, generator=g, dtype=DT)
        Ut = torch.randn(2, 3, generator=g, dtype=DT)
        return X, torch.relu(X @ Ut.T) @ torch.tensor([1.0, -1.0], dtype=DT), 0.05
    n, d, bias, beta = {
        "bias1d_small": (12, 1, True, 0.02),
        "bias2d": (12, 2, True, 0.05),
        "gauss3d": (15, 3, False, 0.3),
        "gauss2d_large": (10, 2, False, 2.0),
        "gauss2d_small": (20, 2, False, 0.01),
        "bias1d_zero": (12, 1, True, 50.0),  # beta above c(y): the zero network is optimal
    }[name]
    X = torch.randn(n, d, generator=g, dtype=DT)
    if bias:
        X = torch.cat([X, ones(n)], dim=1)
    return X, torch.randn(n, generator=g, dtype=DT), beta


CASES = [
    "bias1d_small",
    "bias2d",
    "gauss3d",
    "gauss2d_large",
    "gauss2d_small",
    "bias1d_zero",
    "planted",
]


@dataclass(frozen=True)
class Case:
    X: torch.Tensor
    y: torch.Tensor
    beta: float
    fit: ConvexReLUFit
    p_star: float  # cvxpy's value of the convex program over every pattern


@functools.cache
def case(name: str) -> Case:
    X, y, beta = _data(name)
    return Case(X, y, beta, fit_relu(X, y, beta), cvx_relu(X, y, beta))


# ------------------------------------------------------------------ 1. the value p*
@pytest.mark.parametrize("name", CASES)
def test_fit_relu_equals_cvxpy(name: str) -> None:
    c = case(name)
    f = c.fit
    assert_close(f.objective, c.p_star, **P_STAR, what="objective vs cvxpy")
    # both bounds of the certificate bracket cvxpy's value
    assert f.lower_bound <= c.p_star + SLACK
    assert c.p_star <= f.objective + SLACK
    assert f.exact and f.beta == c.beta
    assert torch.equal(f.patterns, _all_patterns(c.X))
    assert f.V.shape == f.W.shape == (f.patterns.shape[0], c.X.shape[1])


def test_large_beta_gives_the_zero_network() -> None:
    c = case("bias1d_zero")
    assert max_correlation(c.X, c.y) < c.beta  # the KKT condition of the zero network
    U, alpha = c.fit.weights()
    assert U.shape == (0, 2) and alpha.shape == (0,) and c.fit.width == 0
    assert_close(c.fit.objective, 0.5 * float(c.y @ c.y), what="objective")
    assert c.fit.gap == 0.0 and c.fit.converged


def test_subset_of_patterns_equals_cvxpy_on_that_subset() -> None:
    X, y, beta = _data("gauss3d")
    D = _all_patterns(X)[::3]
    f = fit_relu(X, y, beta, patterns=D)
    assert not f.exact
    assert torch.equal(f.patterns, D)
    # not certified: the restricted solves are exact to 1e-10 or better
    assert_close(f.objective, cvx_relu(X, y, beta, D), rtol=1e-7, what="subset optimum")
    assert f.objective >= case("gauss3d").p_star - SLACK


# -------------------------------------------------------- 2. the network read off
@pytest.mark.parametrize("name", CASES)
def test_weights_attain_the_objective(name: str) -> None:
    c = case(name)
    f = c.fit
    U, alpha = f.weights()
    assert U.dtype == alpha.dtype == DT
    assert U.shape == (f.width, c.X.shape[1]) and alpha.shape == (f.width,)
    # two float64 evaluations of the same sums, in different orders
    assert_close(nonconvex_objective(c.X, c.y, U, alpha, c.beta), f.objective, what="objective")
    assert_close(torch_objective(c.X, c.y, U, alpha, c.beta), f.objective, what="torch objective")
    assert_close(U.norm(dim=1), alpha.abs(), what="balance ||u_j|| = |alpha_j|")
    assert f.converged
    assert 0.0 <= f.gap <= 1e-6 * f.objective
    assert_close(f.gap, f.objective - f.lower_bound, rtol=0, atol=1e-12, what="gap")
    gap = optimality_gap(c.X, c.y, U, alpha, c.beta)
    assert 0.0 <= gap <= 1e-6 * f.objective
    # the network's predictions are the convex model's sum_i D_i X (v_i - w_i); the interior
    # point leaves v_i inside its cone only to Clarabel's feasibility tolerance
    Dm = f.patterns.to(DT)
    convex_pred = (Dm * ((f.V - f.W) @ c.X.T)).sum(0)
    assert_close(torch.relu(c.X @ U.T) @ alpha, convex_pred, rtol=0, atol=1e-7, what="f(X)")


def test_planted_teacher_is_fit() -> None:
    c = case("planted")
    U, alpha = c.fit.weights()
    # small beta: the fit is close to the teacher's outputs, and costs less than the teacher
    e = torch.relu(c.X @ U.T) @ alpha - c.y
    assert float(e.norm()) <= 0.1 * float(c.y.norm())
    g = _gen(sum(map(ord, "planted")))
    torch.randn(15, 3, generator=g, dtype=DT)
    Ut = torch.randn(2, 3, generator=g, dtype=DT)
    at = torch.tensor([1.0, -1.0], dtype=DT)
    scale = Ut.norm(dim=1).sqrt()  # the teacher, balanced: same function, least penalty
    teacher = nonconvex_objective(c.X, c.y, Ut / scale[:, None], at * scale, c.beta)
    assert c.fit.objective <= teacher


@pytest.mark.parametrize("name", CASES)
def test_width_at_most_n_plus_one(name: str) -> None:
    # ``width`` is m*, at most n + 1 (Caratheodory), even where the interior-point solve
    # leaves many tiny nonzero neurons
    c = case(name)
    assert c.fit.width <= c.X.shape[0] + 1
    assert c.fit.width == int((c.fit.V.norm(dim=1) > 0).sum() + (c.fit.W.norm(dim=1) > 0).sum())


def test_tighter_rtol_never_returns_a_worse_network() -> None:
    g = _gen(2)
    X = torch.randn(15, 3, generator=g, dtype=DT)
    Ut = torch.randn(2, 3, generator=g, dtype=DT)
    y = torch.relu(X @ Ut.T) @ torch.tensor([1.0, -1.0], dtype=DT)
    loose = fit_relu(X, y, 0.01, rtol=1e-8)  # certified: gap 9.4e-9 relative
    tight = fit_relu(X, y, 0.01, rtol=1e-10)  # not converged: gap 5.9e-7 relative
    assert loose.converged
    assert tight.objective <= loose.objective * (1 + 1e-12)
    assert tight.gap <= loose.gap


# ---------------------------------------------------- 3. weak duality, any network
def _candidates(c: Case, seed: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = _gen(seed)
    d = c.X.shape[1]
    out = []
    for m in (1, 3, 10):
        for s in (0.3, 3.0):
            U = s * torch.randn(m, d, generator=g, dtype=DT)
            out.append((f"random m={m} s={s}", U, s * torch.randn(m, generator=g, dtype=DT)))
    U, alpha = c.fit.weights()
    for s in (0.5, 0.999, 1.001, 2.0):
        out.append((f"U * {s}", U * s, alpha))
        out.append((f"both * {s}", U * s, alpha * s))
    for j in range(min(len(alpha), 3)):
        keep = torch.arange(len(alpha)) != j
        out.append((f"without neuron {j}", U[keep], alpha[keep]))
    return out


@pytest.mark.parametrize("name", ["bias2d", "gauss3d", "gauss2d_small", "planted"])
def test_certificate_is_valid_for_any_network(name: str) -> None:
    c = case(name)
    D = relu_patterns(c.X)  # once, not per call
    for label, U, alpha in _candidates(c, seed=7):
        primal = nonconvex_objective(c.X, c.y, U, alpha, c.beta)
        assert primal >= c.p_star - SLACK, label
        gap = optimality_gap(c.X, c.y, U, alpha, c.beta, patterns=D)
        assert gap >= primal - c.p_star - SLACK, label


@pytest.mark.parametrize("name", ["bias1d_small", "gauss3d", "gauss2d_large", "planted"])
def test_dual_bound_below_p_star_for_any_residual(name: str) -> None:
    c = case(name)
    g = _gen(11)
    n = c.y.shape[0]
    rs = [torch.randn(n, generator=g, dtype=DT) * s for s in (1e-3, 0.1, 1.0, 10.0)]
    rs += [c.y, -c.y, 0.5 * c.y, c.y + 0.1 * torch.randn(n, generator=g, dtype=DT)]
    rs += [torch.zeros(n, dtype=DT)]
    for r in rs:
        assert dual_bound(c.X, c.y, r, c.beta) <= c.p_star + SLACK
    # at the optimum's residual the bound is the fit's own lower bound, tight
    U, alpha = c.fit.weights()
    r = c.y - torch.relu(c.X @ U.T) @ alpha
    low = dual_bound(c.X, c.y, r, c.beta)
    assert_close(low, c.fit.lower_bound, rtol=1e-12, atol=1e-14, what="dual bound at r*")
    assert_close(low, c.p_star, **P_STAR, what="dual bound vs cvxpy")


# ------------------------------------------------ 4. the cone correlation c(r)
def _brute_correlation(X: torch.Tensor, r: torch.Tensor, U: torch.Tensor) -> float:
    """max over the rows u (unit) of |r'(X u)_+|, in chunks."""
    best = 0.0
    for chunk in U.split(50_000):
        best = max(best, float((r @ torch.relu(X @ chunk.T)).abs().max()))
    return best


def _sphere(N: int, d: int, seed: int) -> torch.Tensor:
    U = torch.randn(N, d, generator=_gen(seed), dtype=DT)
    return U / U.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("name", ["gauss2d_large", "gauss2d_small", "bias1d_small"])
def test_max_correlation_d2_fine_grid(name: str) -> None:
    c = case(name)
    g = _gen(3)
    t = torch.linspace(0, 2 * math.pi, 200_001, dtype=DT)[:-1]
    grid = torch.stack([t.cos(), t.sin()], dim=1)
    for r in [torch.randn(c.y.shape[0], generator=g, dtype=DT), c.y]:
        exact = max_correlation(c.X, r)
        for U in (grid, _sphere(100_000, 2, seed=4)):
            assert _brute_correlation(c.X, r, U) <= exact + 1e-9
        # a grid step of 3e-5 rad: first-order error at most 3e-5 ||X|| ||r||
        assert_close(_brute_correlation(c.X, r, grid), exact, rtol=1e-3, what="c(r), d = 2")


@pytest.mark.parametrize("name", ["gauss3d", "bias2d"])
def test_max_correlation_d3_random_directions(name: str) -> None:
    c = case(name)
    g = _gen(5)
    U = _sphere(200_000, 3, seed=6)
    for r in [torch.randn(c.y.shape[0], generator=g, dtype=DT), c.y]:
        exact = max_correlation(c.X, r)
        brute = _brute_correlation(c.X, r, U)
        assert brute <= exact + 1e-9
        # 200k directions on S^2 are ~0.01 rad apart: the best one is within ~2% of c(r)
        assert brute >= 0.98 * exact


def test_max_correlation_d1_exact() -> None:
    g = _gen(8)
    X = torch.randn(9, 1, generator=g, dtype=DT)
    r = torch.randn(9, generator=g, dtype=DT)
    x = X[:, 0]
    expected = max(abs(float(r @ torch.relu(x))), abs(float(r @ torch.relu(-x))))
    assert_close(max_correlation(X, r), expected, what="c(r), d = 1")
    assert max_correlation(X, torch.zeros(9, dtype=DT)) == 0.0


@pytest.mark.parametrize("name", ["bias1d_small", "gauss3d", "gauss2d_large", "planted"])
def test_max_correlation_is_beta_at_the_optimum(name: str) -> None:
    # strong duality: lambda* = y - f*(X) is dual feasible and tight on the used neurons,
    # c(r*) = beta (to the accuracy of the solve)
    c = case(name)
    U, alpha = c.fit.weights()
    r = c.y - torch.relu(c.X @ U.T) @ alpha
    assert_close(max_correlation(c.X, r), c.beta, rtol=1e-3, what="c(r*)")


# ---------------------------------------- 5. the non-convex problem at the optimum
@pytest.mark.parametrize("name", CASES)
def test_relu_weight_decay_at_the_optimum(name: str) -> None:
    c = case(name)
    U, alpha = c.fit.weights()
    m = max(c.fit.width, 1)
    for pad in (0, 2):  # dead neurons (u = 0, alpha = 0) change neither loss nor gradient
        prob = ReluWeightDecay(c.X, c.y, width=m + pad, beta=c.beta)
        Up = torch.cat([U, torch.zeros(m + pad - U.shape[0], U.shape[1], dtype=DT)])
        ap = torch.cat([alpha, torch.zeros(m + pad - alpha.shape[0], dtype=DT)])
        theta = prob.join(Up, ap)
        loss, grad = prob.loss_and_grad(theta)
        assert_close(loss, torch.tensor([c.fit.objective], dtype=DT), what="loss")
        # d/d alpha_j vanishes exactly at a convex optimum (complementary slackness on the
        # cone constraints gives v'X'D e + beta ||v|| = 0); the solve is 1e-6 accurate
        g_alpha = prob.split(grad)[1]
        assert float(g_alpha.norm()) <= 1e-4 * (1 + c.fit.objective)
        # the certificate bounds the loss of every network of every width from below
        g = _gen(13)
        for eps in (1e-6, 1e-3, 1e-1):
            moved = theta + eps * torch.randn(theta.shape, generator=g, dtype=DT)
            assert float(prob.loss(moved)) >= c.fit.lower_bound - 1e-12


def test_gradient_vanishes_when_no_sample_is_on_a_kink() -> None:
    # one planted neuron, little decay: the optimal neuron keeps the teacher's pattern with
    # every sample strictly off its hyperplane, where the loss is smooth
    g = _gen(21)
    X = torch.randn(15, 3, generator=g, dtype=DT)
    u = torch.randn(3, generator=g, dtype=DT)
    y = 1.5 * torch.relu(X @ u)
    f = fit_relu(X, y, 0.1, rtol=1e-10)
    U, alpha = f.weights()
    margin = ((X @ U.T).abs() / (X.norm(dim=1)[:, None] * U.norm(dim=1))).min()
    assert float(margin) > 1e-5
    prob = ReluWeightDecay(X, y, width=U.shape[0], beta=0.1)
    grad = prob.grad(prob.join(U, alpha))
    assert float(grad.norm()) <= 1e-4 * (1 + f.objective)


def test_gradient_at_a_kink_is_not_small() -> None:
    # 1-D inputs with a bias: the optimal neurons put their kinks exactly at data points
    # (active cone constraints (2D - I) X v >= 0), where the loss is not differentiable.
    # The one-sided gradient torch reports there (relu'(0) = 0) is O(1) in U, but it lies
    # in the span of the kink samples x_k: it is the multiplier term sqrt||v|| X'(2D - I) mu.
    X, y, beta = _data("bias1d_small")
    f = fit_relu(X, y, beta, rtol=1e-10)
    assert f.converged
    U, alpha = f.weights()
    prob = ReluWeightDecay(X, y, width=U.shape[0], beta=beta)
    gU = prob.split(prob.grad(prob.join(U, alpha)))[0][0]
    assert float(gU.norm()) > 0.1
    for j in range(U.shape[0]):
        cos = (X @ U[j]).abs() / (X.norm(dim=1) * U[j].norm())
        kinks = X[cos < 1e-6]
        assert kinks.shape[0] >= 1, j
        Q = torch.linalg.qr(kinks.T)[0]
        rest = gU[j] - Q @ (Q.T @ gU[j])
        assert float(rest.norm()) <= 1e-6 * (1 + f.objective), j


# ----------------------------------------------------------- 6. Sequential models
def _model(d: int, m: int, seed: int, bias: bool = True) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(d, m, bias=bias), torch.nn.ReLU(), torch.nn.Linear(m, 1, bias=False)
    ).to(DT)


def test_sequential_weights_fold_the_bias() -> None:
    X, y, beta = _data("bias2d")
    x = X[:, :2]  # the raw inputs; X carries the ones column
    model = _model(2, 6, seed=0)
    U, alpha = sequential_weights(model)
    first, last = model[0], model[2]
    U_manual = torch.cat([first.weight.detach(), first.bias.detach()[:, None]], dim=1)
    assert torch.equal(U, U_manual)
    assert torch.equal(alpha, last.weight.detach()[0])
    with torch.no_grad():
        assert_close(model(x)[:, 0], torch.relu(X @ U.T) @ alpha, what="f(X)")
    gap = optimality_gap(X, y, U, alpha, beta)
    assert gap == optimality_gap(X, y, U_manual, last.weight.detach()[0], beta)
    assert gap >= nonconvex_objective(X, y, U, alpha, beta) - case("bias2d").p_star - SLACK
    # the returned tensors are copies, detached
    U[0, 0] += 1.0
    assert not torch.equal(sequential_weights(model)[0], U)
    assert not sequential_weights(model)[0].requires_grad
    # no first-layer bias: U is the weight itself; a zero output bias is accepted
    plain = _model(3, 4, seed=1, bias=False)
    assert torch.equal(sequential_weights(plain)[0], plain[0].weight.detach())
    zero_bias = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)
    ).to(DT)
    torch.nn.init.zeros_(zero_bias[2].bias)
    assert sequential_weights(zero_bias)[0].shape == (3, 3)


@pytest.mark.parametrize(
    "model,match",
    [
        (lambda: torch.nn.Linear(2, 3), "must be Sequential"),
        (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()), "must be Sequential"),
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1, bias=False)
            ),
            "must be Sequential",
        ),
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2, bias=False)
            ),
            "must be Sequential",
        ),
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(2, 3),
                torch.nn.ReLU(),
                torch.nn.Linear(3, 3),
                torch.nn.ReLU(),
                torch.nn.Linear(3, 1, bias=False),
            ),
            "must be Sequential",
        ),
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)
            ),
            "output layer has a bias",
        ),
    ],
)
def test_sequential_weights_refuses(model, match: str) -> None:
    torch.manual_seed(0)  # Linear(3, 1)'s default bias is nonzero
    with pytest.raises(ValueError, match=match) as info:
        sequential_weights(model())
    _one_sentence(info)


# ------------------------------------------------------------------ 7. gated ReLU
@pytest.mark.parametrize("gating", ["sampled", "every pattern"])
def test_gated_relu_equals_cvxpy_and_decomposes(gating: str) -> None:
    c = case("gauss3d")
    if gating == "sampled":
        gates, P = sample_gates(c.X, 40, generator=_gen(17))
    else:  # a strictly interior gate for each pattern (Gaussian gates miss thin cones)
        P = _all_patterns(c.X)
        gates = interior_points(c.X, P)
    V, D, value = fit_gated_relu(c.X, c.y, c.beta, gates)
    assert V.shape == gates.shape and torch.equal(D, P)
    assert_close(value, cvx_gated(c.X, c.y, c.beta, gates), **P_STAR, what="gated value")
    if gating == "every pattern":  # a relaxation of the ReLU program: below p*
        assert value <= c.p_star + SLACK
    gated_pred = (D.to(DT) * (V @ c.X.T)).sum(0)
    e = gated_pred - c.y
    assert_close(value, float(0.5 * e @ e + c.beta * V.norm(dim=1).sum()), what="value")
    U, alpha = relu_from_gated(c.X, V, gates)
    assert_close(torch.relu(c.X @ U.T) @ alpha, gated_pred, rtol=0, atol=1e-9, what="f(X)")
    assert nonconvex_objective(c.X, c.y, U, alpha, c.beta) >= c.p_star - SLACK


def test_relu_from_gated_rejects_a_gate_on_a_hyperplane() -> None:
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=DT)
    gates = torch.tensor([[0.0, 1.0]], dtype=DT)  # x_1 . g = 0
    with pytest.raises(ValueError, match="hyperplane") as info:
        relu_from_gated(X, torch.ones(1, 2, dtype=DT), gates)
    _one_sentence(info)


@pytest.mark.parametrize("bad", ["V shape", "V NaN", "gates NaN"])
def test_gated_bad_input(bad: str) -> None:
    X = torch.randn(5, 2, generator=_gen(0), dtype=DT)
    y = torch.randn(5, generator=_gen(1), dtype=DT)
    gates = torch.randn(4, 2, generator=_gen(2), dtype=DT)
    with pytest.raises(ValueError):
        if bad == "V shape":
            relu_from_gated(X, torch.ones(4, 3, dtype=DT), gates)
        elif bad == "V NaN":
            relu_from_gated(X, torch.full((4, 2), math.nan, dtype=DT), gates)
        else:
            fit_gated_relu(X, y, 0.1, torch.full((3, 2), math.nan, dtype=DT))


# -------------------------------------------------------------------- 8. batches
def test_fit_relu_batch_equals_one_at_a_time() -> None:
    X, y, _ = _data("bias1d_small")
    g = _gen(31)
    Y = torch.stack([y, torch.relu(X @ torch.randn(2, generator=g, dtype=DT)), y])
    betas = [0.3, 1.0, 3.0]
    fits = fit_relu_batch(X, Y, torch.tensor(betas, dtype=DT))
    assert len(fits) == 3
    for f, yb, b in zip(fits, Y, betas, strict=True):
        one = fit_relu(X, yb, b)
        assert f.beta == b and f.converged
        assert_close(f.objective, one.objective, rtol=1e-7, atol=0, what="batch objective")
    # one target, several beta; and one beta for several targets
    two = fit_relu_batch(X, y, [0.3, 3.0])
    assert [f.beta for f in two] == [0.3, 3.0]
    for f, g_ in zip(two, (fits[0], fits[2]), strict=True):
        assert_close(f.objective, g_.objective, rtol=1e-7, atol=0, what="y, beta list")
    same = fit_relu_batch(X, Y[:1], 0.3)
    assert_close(same[0].objective, fits[0].objective, rtol=1e-7, atol=0, what="shared beta")


# -------------------------------------------------------------- 9. larger sanity
def test_larger_instance_is_certified() -> None:
    g = _gen(41)
    n = 40
    X = torch.cat([torch.randn(n, 2, generator=g, dtype=DT), torch.ones(n, 1, dtype=DT)], 1)
    y = torch.randn(n, generator=g, dtype=DT)
    # n = 40 points and a bias: pattern_count(40, 3) = 1562 patterns (1561 nonzero); with
    # 3 inputs and a bias (19840 patterns) one solve takes minutes, see the report
    f = fit_relu(X, y, 1.0)
    assert f.patterns.shape == (pattern_count(n, 3) - 1, n)
    assert f.converged and 0.0 <= f.gap <= 1e-6 * f.objective
    U, alpha = f.weights()
    assert optimality_gap(X, y, U, alpha, 1.0) <= 1e-6 * f.objective


# -------------------------------------------------------------------- bad input
def _one_sentence(info: pytest.ExceptionInfo) -> None:
    msg = str(info.value)
    assert msg.endswith(".") and "\n" not in msg and msg.count(". ") == 0, msg


_X = torch.randn(6, 2, generator=_gen(0), dtype=DT)
_Y = torch.randn(6, generator=_gen(1), dtype=DT)
_U = torch.randn(3, 2, generator=_gen(2), dtype=DT)
_A = torch.randn(3, generator=_gen(3), dtype=DT)
_NAN_X = _X.clone()
_NAN_X[2, 1] = math.nan


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fit_relu(_X, _Y, 0.0), "beta must be a positive finite number"),
        (lambda: fit_relu(_X, _Y, -1.0), "beta must be a positive finite number"),
        (lambda: fit_relu(_X, _Y, math.nan), "beta must be a positive finite number"),
        (lambda: fit_relu(_X, _Y, math.inf), "beta must be a positive finite number"),
        (lambda: fit_relu(_NAN_X, _Y, 0.1), "NaN"),
        (lambda: fit_relu(_X, _Y[:5], 0.1), r"y has shape \(5,\)"),
        (lambda: fit_relu(_X, _Y[None].expand(2, 6), 0.1), r"y has shape \(2, 6\)"),
        (lambda: fit_relu(_X[:, 0], _Y, 0.1), r"X has shape \(6,\)"),
        (lambda: fit_relu(_X.to(torch.int64), _Y, 0.1), "floating-point"),
        (lambda: fit_relu(_X, _Y, 0.1, rtol=0.0), "rtol must be a number in"),
        (lambda: fit_relu(_X, _Y, 0.1, rtol=1.0), "rtol must be a number in"),
        (lambda: fit_relu(_X, _Y, 0.1, rtol=-1e-3), "rtol must be a number in"),
        (lambda: fit_relu(_X, _Y, 0.1, rtol=True), "rtol must be a number in"),
        (lambda: fit_relu(_X, _Y, 0.1, patterns=torch.ones(3, 5)), r"patterns have shape"),
        (lambda: fit_relu(_X, _Y, 0.1, max_patterns=5), "max_patterns=5"),
        (lambda: fit_relu_batch(_X, _Y[None].expand(3, 6), [0.1, 0.2]), "beta has 2 values"),
        (lambda: nonconvex_objective(_X, _Y, _U[:, :1], _A, 0.1), r"U has shape \(3, 1\)"),
        (lambda: nonconvex_objective(_X, _Y, _U[0], _A, 0.1), r"U has shape \(2,\)"),
        (lambda: nonconvex_objective(_X, _Y, _U, _A[:2], 0.1), r"alpha has shape \(2,\)"),
        (lambda: nonconvex_objective(_X, _Y, _U, _A, 0.0), "beta must be"),
        (lambda: optimality_gap(_X, _Y, _U, _A, math.nan), "beta must be"),
        (lambda: optimality_gap(_X, _Y, _U.T, _A, 0.1), r"U has shape \(2, 3\)"),
        (lambda: optimality_gap(_X, _Y, _U, _A[:2], 0.1), r"alpha has shape"),
        (lambda: optimality_gap(_NAN_X, _Y, _U, _A, 0.1), "NaN"),
        (lambda: optimality_gap(_X, _Y[:4], _U, _A, 0.1), r"y has shape \(4,\)"),
        (lambda: dual_bound(_X, _Y, _Y, -2.0), "beta must be"),
        (lambda: dual_bound(_X, _Y, _Y[:3], 0.1), r"has shape \(3,\)"),
        (lambda: max_correlation(_X, _Y[:3]), r"has shape \(3,\)"),
        (lambda: max_correlation(_X[0], _Y), r"X has shape \(2,\)"),
        (lambda: fit_gated_relu(_X, _Y, 0.0, _U), "beta must be"),
        (lambda: fit_gated_relu(_X, _Y, 0.1, _U[:, :1]), r"gates have shape \(3, 1\)"),
        (lambda: fit_gated_relu(_X, _Y, 0.1, _U, rtol=2.0), "rtol must be"),
        (lambda: fit_gated_relu(_X, _Y[:5], 0.1, _U), r"y has shape \(5,\)"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        call()
    _one_sentence(info)
