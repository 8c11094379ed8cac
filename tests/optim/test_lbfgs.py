"""Batched L-BFGS (``LBFGS`` under ``run``) against one-row runs and a textbook loop, against
closed-form optima and scipy, its Armijo descent, per-row stopping, the step cap, problems
whose rows own their data, and argument checks."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import scipy.optimize
import torch

from _tolerances import assert_close
from landscope.convex import lifted_least_squares
from landscope.optim import LBFGS, RunResult, Stop, View, run
from landscope.problems import QuadraticNet, ReluTeacherStudent, init_from_seeds
from reference.lbfgs_problems import (
    Quadratic,
    Recorder,
    Rosenbrock,
    random_spd,
    reference_lbfgs,
)
from reference.one_row import run_alone

DT = torch.float64
# Batched vs one row vs the textbook loop: the same float64 operations (the reference
# mirrors LBFGS' order of operations), so paths agree to rounding. Near grad_tol the
# accept/stop decisions are discrete: a loop written with other dot products (s @ y,
# division by s'y) drifts by ~1e-12 along Rosenbrock's valley and can stop one step
# earlier or later, so the reference deliberately shares LBFGS' arithmetic.
LOOP = {"rtol": 1e-12, "atol": 1e-12}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _lbfgs(problem: object, theta0: torch.Tensor, method: LBFGS | None = None, **stop) -> RunResult:
    """``LBFGS`` (default constants unless ``method``) under ``run``; ``stop`` holds
    ``Stop``'s fields."""
    return run(problem, theta0, LBFGS() if method is None else method, stop=Stop(**stop))


def _reference(problem: object, x: torch.Tensor, stop: Stop, method: LBFGS):
    """``reference_lbfgs`` on one row (P,) with the constants of ``stop`` and ``method``."""
    return reference_lbfgs(
        problem,
        x,
        grad_tol=stop.grad_tol,
        max_steps=stop.max_steps,
        memory=method.memory,
        c1=method.c1,
        max_backtracks=method.max_backtracks,
        max_step_norm=method.max_step_norm,
        diverge=stop.diverge,
    )


def _check_shapes(res: RunResult, R: int, P: int) -> None:
    assert res.theta.shape == (R, P) and res.theta.dtype == DT
    assert res.grad_norm.shape == res.loss.shape == res.steps.shape == res.status.shape == (R,)
    assert res.method == "lbfgs"


def _rosenbrock_starts(P: int, R: int, seed: int) -> tuple[Rosenbrock, torch.Tensor]:
    prob = Rosenbrock(P)
    return prob, prob.init(R, generator=_gen(seed))


# ------------------------------------------------------------------ the test problems
@pytest.mark.parametrize("which", ["rosenbrock", "quadratic", "quadratic_centred"])
def test_reference_problem_gradients_match_autograd(which: str) -> None:
    if which == "rosenbrock":
        prob = Rosenbrock(5)
    else:
        b = torch.randn(6, generator=_gen(1), dtype=DT)
        prob = Quadratic(random_spd(6, 100.0, 0), b, centred=which == "quadratic_centred")
    theta = torch.randn(4, prob.n_params, generator=_gen(2), dtype=DT)
    loss, g = prob.loss_and_grad(theta)
    assert loss.shape == (4,) and g.shape == (4, prob.n_params)
    x = theta.clone().requires_grad_(True)
    (ga,) = torch.autograd.grad(prob.loss(x).sum(), x)
    assert_close(g, ga, rtol=1e-12, atol=1e-10, what=f"{which} gradient")
    if which == "quadratic_centred":  # the same function as 1/2 x'Ax - b'x, shifted
        plain = Quadratic(prob.A, prob.b)
        # the two forms differ by rounding of terms of size |b| |x|, here <= ~10
        assert_close(loss - prob.global_min, plain.loss(theta) - plain.global_min, atol=1e-13)


# ------------------------------------------------------------------ batched vs per row
def _relu4() -> tuple[ReluTeacherStudent, torch.Tensor]:
    prob = ReluTeacherStudent(k=4)
    return prob, init_from_seeds(prob, list(range(6)))


STOP = Stop(grad_tol=1e-10, max_steps=2000)
CASES = {
    # 2-D Rosenbrock: one row needs 1064 steps, the others 22..46 (see the scipy test)
    "rosenbrock2": (lambda: _rosenbrock_starts(2, 6, 2), STOP, LBFGS()),
    # 4-D: rows end at the global minimum or the local one near (-1, 1, 1, 1)
    "rosenbrock4": (lambda: _rosenbrock_starts(4, 6, 4), STOP, LBFGS()),
    # memory 3 < steps: every row's pair buffer wraps around many times
    "rosenbrock6_mem3": (lambda: _rosenbrock_starts(6, 5, 6), STOP, LBFGS(memory=3)),
    # grad_tol 1e-7: below ~1e-8 the closed-form loss near zero is at its rounding floor
    # and the line search stalls (reported max_steps)
    "relu4": (_relu4, Stop(grad_tol=1e-7, max_steps=2000), LBFGS()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_batched_equals_per_row_and_textbook_loop(case: str) -> None:
    make, stop, method = CASES[case]
    prob, theta0 = make()
    R, P = theta0.shape
    res = run(prob, theta0, method, stop=stop)
    _check_shapes(res, R, P)
    assert res.status_names() == ["converged"] * R
    assert bool((res.grad_norm <= stop.grad_tol).all())
    assert_close(res.grad_norm, prob.grad(res.theta).norm(dim=1), what="reported grad norm")
    assert_close(res.loss, prob.loss(res.theta), what="reported loss")
    assert len(set(res.steps.tolist())) > 1  # rows leave at different steps: compaction
    alone = run_alone(prob, theta0, method, stop)
    assert res.steps.tolist() == alone.steps.tolist()
    assert res.status.tolist() == alone.status.tolist()
    assert_close(res.theta, alone.theta, **LOOP, what=f"{case}: batched vs R = 1")
    for r in range(R):
        theta, steps, status, _ = _reference(prob, theta0[r], stop, method)
        assert (steps, status) == (int(res.steps[r]), int(res.status[r])), f"{case} row {r}"
        assert_close(res.theta[r], theta, **LOOP, what=f"{case} row {r}: textbook loop")


# ------------------------------------------------------------------ against known optima
def test_quadratic_converges_to_the_solution() -> None:
    P, R = 10, 8
    A = random_spd(P, 100.0, 0)  # eigenvalues 1 .. 100
    b = torch.randn(P, generator=_gen(1), dtype=DT)
    prob = Quadratic(A, b, centred=True)
    theta0 = prob.init(R, generator=_gen(2))
    res = _lbfgs(prob, theta0, grad_tol=1e-10, max_steps=1000)
    _check_shapes(res, R, P)
    assert res.status_names() == ["converged"] * R
    x_star = torch.from_numpy(np.linalg.solve(A.numpy(), b.numpy()))
    # |x - x*| <= ||g|| / lambda_min = 1e-10; 1e-8 is the required accuracy
    assert_close(res.theta, x_star.expand(R, P), rtol=0, atol=1e-8, what="argmin")
    assert_close(res.theta @ A, b.expand(R, P), rtol=0, atol=1e-10, what="A x = b")


def test_uncentred_quadratic_converges_at_attainable_tolerance() -> None:
    # 1/2 x'Ax - b'x as written: |f*| ~ 0.3, so the Armijo test resolves decreases down
    # to ||g|| ~ 3e-9 (see Quadratic); grad_tol 1e-7 is well above that floor
    P, R = 5, 5
    A, b = random_spd(P, 100.0, 0), torch.randn(P, generator=_gen(1), dtype=DT)
    prob = Quadratic(A, b)
    res = _lbfgs(prob, prob.init(R, generator=_gen(2)), grad_tol=1e-7, max_steps=1000)
    assert res.status_names() == ["converged"] * R
    assert_close(res.theta, prob.minimizer.expand(R, P), rtol=0, atol=1e-7, what="argmin")


def test_row_without_descent_stops_instead_of_spinning() -> None:
    P = 5
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=_gen(0), dtype=DT))
    A = (Q * torch.logspace(0, 2, P, dtype=DT)) @ Q.T
    # |b| |x*| ~ 1e4: decreases vanish in rounding below ||g|| ~ 1e-7 (the final ||g||
    # lands anywhere in 1e-9..1e-6 depending on rounding, seeds 0..5), and A x - b itself
    # is only resolved to ~1e-12, so grad_tol 1e-15 is unattainable and the row must end
    # as max_steps (1e-8 was reached by rounding luck on one machine); theta stops
    # moving by step ~30
    prob = Quadratic(0.5 * (A + A.T), torch.full((P,), 100.0, dtype=DT))
    rec = Recorder(prob)
    res = _lbfgs(rec, torch.zeros(1, P, dtype=DT), grad_tol=1e-15, max_steps=100)
    assert res.status_names() == ["max_steps"]
    moved = sum(not torch.equal(a[0], b[0]) for a, b in pairwise(rec.calls))
    assert moved >= 10
    # documented: a row gives up when no descent is found; steps count real moves
    assert int(res.steps[0]) == moved < 100


@pytest.mark.parametrize("P", [2, 3])
def test_rosenbrock_reaches_ones_like_scipy(P: int) -> None:
    prob, theta0 = _rosenbrock_starts(P, 6, P)
    res = _lbfgs(prob, theta0, grad_tol=1e-10, max_steps=5000)
    assert res.status_names() == ["converged"] * 6
    # Hessian at (1, ..., 1) has lambda_min >= 0.39 (P <= 3): |x - 1| <= 3e-10
    assert_close(res.theta, torch.ones(6, P, dtype=DT), rtol=0, atol=1e-8, what="argmin")
    assert float(prob.loss(res.theta).max()) <= 1e-18
    nits = []
    for r in range(6):
        sp = scipy.optimize.minimize(
            lambda x: float(prob.loss(torch.from_numpy(x)[None])[0]),
            theta0[r].numpy(),
            jac=lambda x: prob.grad(torch.from_numpy(x)[None])[0].numpy(),
            method="L-BFGS-B",
            options={"gtol": 1e-9, "ftol": 0.0, "maxiter": 5000},
        )
        assert sp.success, sp.message
        np.testing.assert_allclose(sp.x, np.ones(P), rtol=0, atol=1e-6)
        nits.append(sp.nit)
    # iteration counts only loosely: scipy's Wolfe line search keeps every curvature
    # pair, while Armijo backtracking may skip pairs and then crawl (one 2-D start takes
    # ~1000 steps against scipy's ~20); the typical row is of the same order
    assert float(np.median(res.steps.numpy())) <= 5 * float(np.median(nits))


# ------------------------------------------------------------------ descent
@pytest.mark.parametrize("case", ["rosenbrock2", "relu4"])
def test_every_accepted_step_satisfies_armijo(case: str) -> None:
    make, stop, method = CASES[case]
    prob, theta0 = make()
    c1 = 1e-4
    for r in (0, 1, 3):  # row 2 of rosenbrock2 is the 1064-step one
        rec = Recorder(prob)
        res = run(rec, theta0[r : r + 1], replace(method, c1=c1), stop=stop)
        assert res.status_names() == ["converged"]
        # one loss_and_grad at the start, one per accepted step, nothing else
        assert len(rec.calls) == int(res.steps[0]) + 1
        for k, ((x0, f0, g0), (x1, f1, _)) in enumerate(pairwise(rec.calls)):
            s = (x1 - x0)[0]
            assert float(s.norm()) > 0, f"row {r} step {k}: null step"
            assert float(f1[0]) <= float(f0[0]) + c1 * float(g0[0] @ s), f"row {r} step {k}"
            assert float(f1[0]) < float(f0[0]), f"row {r} step {k}: loss did not decrease"


def test_loss_is_monotone_in_max_steps() -> None:
    prob, theta0 = _rosenbrock_starts(2, 6, 2)
    paths = [_reference(prob, theta0[r], STOP, LBFGS())[3] for r in range(6)]
    prev = prob.loss(theta0)
    for k in range(1, 31):
        res = _lbfgs(prob, theta0, grad_tol=1e-10, max_steps=k)
        loss = prob.loss(res.theta)
        assert bool((loss <= prev).all()), f"max_steps = {k}"
        for r in range(6):  # a capped run is the first k steps of the full one
            assert int(res.steps[r]) == min(k, len(paths[r]) - 1)
            assert_close(res.theta[r], paths[r][min(k, len(paths[r]) - 1)], **LOOP)
        prev = loss


# ------------------------------------------------------------------ per-row stopping
def test_optimum_nan_and_inf_rows_stop_at_step_zero() -> None:
    prob, starts = _rosenbrock_starts(2, 6, 2)
    good = starts[[0, 1, 3]]  # 40, 23 and 22 steps
    start = torch.cat(
        [
            torch.ones(1, 2, dtype=DT),  # the minimum: gradient exactly 0
            torch.tensor([[float("nan"), 1.0]], dtype=DT),
            torch.tensor([[1e200, 0.0]], dtype=DT),  # loss overflows to inf
            good,
        ]
    )
    res = _lbfgs(prob, start, grad_tol=1e-10, max_steps=2000)
    _check_shapes(res, 6, 2)
    assert res.status.tolist() == [1, 3, 3, 1, 1, 1]
    assert res.steps[:3].tolist() == [0, 0, 0]
    assert res.grad_norm[:3].tolist() == [0.0, math.inf, math.inf]
    assert torch.allclose(res.theta[:3], start[:3], rtol=0, atol=0, equal_nan=True)
    ok = _lbfgs(prob, good, grad_tol=1e-10, max_steps=2000)
    assert res.steps[3:].tolist() == ok.steps.tolist()
    assert_close(res.theta[3:], ok.theta, **LOOP, what="rows beside stopped ones")


def test_max_steps_status() -> None:
    prob, good = _rosenbrock_starts(2, 4, 2)
    start = torch.cat([good, torch.ones(1, 2, dtype=DT)])
    res = _lbfgs(prob, start, grad_tol=1e-10, max_steps=5)
    assert res.status_names() == ["max_steps"] * 4 + ["converged"]
    assert res.steps.tolist() == [5, 5, 5, 5, 0]
    assert_close(res.grad_norm, prob.grad(res.theta).norm(dim=1), what="grad norm at stop")
    zero = _lbfgs(prob, start, grad_tol=1e-10, max_steps=0)
    assert zero.status_names() == ["max_steps"] * 4 + ["converged"]
    assert torch.equal(zero.theta, start) and int(zero.steps.max()) == 0


def test_failed_line_search_is_max_steps() -> None:
    prob = Rosenbrock(2)
    # from (-3, -3) the gradient has norm ~1e4: the unit step -g overshoots, and with a
    # single trial allowed no descent is found
    start = torch.tensor([[-3.0, -3.0], [1.0, 1.0]], dtype=DT)
    res = _lbfgs(prob, start, LBFGS(max_backtracks=1), grad_tol=1e-10, max_steps=100)
    assert res.status_names() == ["max_steps", "converged"]
    assert res.steps.tolist() == [0, 0]
    assert torch.equal(res.theta, start)
    assert float(res.grad_norm[0]) == float(prob.grad(start[:1]).norm())


def test_growing_gradient_is_diverged() -> None:
    # f = -|x|^2 / 2: every pair has s'y < 0 and is dropped, so d = -g = x, the unit step
    # is accepted and x doubles each step (exactly, in binary); ||g|| = 2^k passes 1e3
    # at k = 10. The origin is a critical point (a maximum): converged at once.
    prob = Quadratic(-torch.eye(3, dtype=DT), torch.zeros(3, dtype=DT))
    x0 = torch.tensor([[0.6, 0.0, 0.8], [0.0, 0.0, 0.0]], dtype=DT)
    res = _lbfgs(prob, x0, grad_tol=1e-10, max_steps=100, diverge=1e3)
    assert res.status_names() == ["diverged", "converged"]
    assert res.steps.tolist() == [10, 0]
    assert res.grad_norm.tolist() == [math.inf, 0.0]
    assert_close(res.theta, x0 * torch.tensor([[2.0**10], [1.0]], dtype=DT), rtol=0, atol=0)


def test_observer_reports_rows_as_they_leave() -> None:
    prob, theta0 = _rosenbrock_starts(4, 6, 4)
    calls: list[tuple[int, int]] = []

    def leaving(view: View) -> None:
        if view.finished:
            calls.append((view.step, view.remaining))

    res = run(prob, theta0, LBFGS(), stop=STOP, observers=[leaving])
    assert res.status_names() == ["converged"] * 6
    steps = res.steps.tolist()
    # no line search failed, so the driver's iteration equals each row's step count
    assert [s for s, _ in calls] == sorted(set(steps))
    assert [a for _, a in calls] == [sum(n > s for n in steps) for s, _ in calls]
    active = [a for _, a in calls]
    assert active == sorted(active, reverse=True) and len(set(active)) == len(active)
    assert active[-1] == 0


# ------------------------------------------------------------------ step cap
def test_max_step_norm_caps_steps() -> None:
    prob = Rosenbrock(2)
    x0 = torch.tensor([[-1.2, 1.0]], dtype=DT)  # ||grad|| ~ 232
    cap = 0.05
    free = _lbfgs(prob, x0, grad_tol=1e-10, max_steps=1)
    assert float((free.theta - x0).norm()) > 4 * cap  # 0.227 uncapped
    one = _lbfgs(prob, x0, LBFGS(max_step_norm=cap), grad_tol=1e-10, max_steps=1)
    assert int(one.steps[0]) == 1
    # the first direction is -g scaled to length cap, then halved t times
    step = (one.theta - x0)[0]
    g = prob.grad(x0)[0]
    t = 2.0 ** round(math.log2(float(step.norm()) / cap))
    assert t <= 1
    assert_close(step, -t * cap * g / g.norm(), what="first capped step")
    rec = Recorder(prob)
    res = _lbfgs(rec, x0, LBFGS(max_step_norm=cap), grad_tol=1e-10, max_steps=2000)
    assert res.status_names() == ["converged"]
    lengths = [float((b[0] - a[0]).norm()) for a, b in pairwise(rec.calls)]
    assert max(lengths) <= cap * (1 + 1e-12)
    assert_close(res.theta, torch.ones(1, 2, dtype=DT), rtol=0, atol=1e-8)


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"memory": 0}, "memory and max_backtracks must be >= 1."),
        ({"max_backtracks": 0}, "memory and max_backtracks must be >= 1."),
        ({"c1": 0.0}, "c1 must be in (0, 1), got 0.0."),
        ({"c1": 1.0}, "c1 must be in (0, 1), got 1.0."),
        ({"c1": -0.5}, "c1 must be in (0, 1), got -0.5."),
        ({"c1": float("nan")}, "c1 must be in (0, 1), got nan."),
    ],
)
def test_bad_arguments_raise(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(match)}$"):
        LBFGS(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"grad_tol": -1e-9},
        {"grad_tol": float("nan")},
        {"grad_tol": float("inf")},
        {"max_steps": -1},
    ],
)
def test_bad_stopping_rule_raises(kw: dict) -> None:
    with pytest.raises(ValueError, match=f"^{next(iter(kw))} must be"):
        Stop(**kw)


# ------------------------------------------------------------------ quadratic networks
def test_quadratic_net_reaches_the_convex_optimum() -> None:
    d, m, h, R = 4, 40, 6, 8
    X = torch.randn(m, d, generator=_gen(0), dtype=DT)
    s = torch.tensor([1.0, -1.0, 2.0, -0.5], dtype=DT)
    y = (X * X) @ s  # planted y = sum_i s_i x_i^2: representable, optimum 0
    net = QuadraticNet(X, y, h=h, variant="added_norm")
    theta0 = net.init(R, generator=_gen(1))
    res = _lbfgs(net, theta0, grad_tol=1e-8, max_steps=3000)
    _check_shapes(res, R, h * d + h + 1)
    assert res.status_names() == ["converged"] * R
    assert bool((net.grad(res.theta).norm(dim=1) <= 1e-8).all())
    # h >= d: every symmetric M is W' diag(a) W + g I, so the convex optimum is the
    # network's global minimum; every row reaches it (no spurious minima, added norm)
    best = lifted_least_squares(X, y).loss
    assert best <= 1e-20
    assert_close(net.loss(res.theta), torch.full((R,), best, dtype=DT), rtol=0, atol=1e-8)
    assert_close(net.matrix(res.theta), torch.diag(s).expand(R, d, d), rtol=0, atol=1e-6)
