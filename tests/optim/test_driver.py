"""The batched driver ``run`` against plain per-row loops: per-row stopping (freeze,
divergence, step budget, loss target), compaction every ``check_every`` iterations,
problems whose rows own their data, observers and ``Progress``, the stopping rule
``Stop`` and its validation, the result record, and plain gradient transformations."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import NamedTuple

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import (
    GD,
    LBFGS,
    STATUS,
    Adam,
    Armijo,
    LevenbergMarquardt,
    Newton,
    Observer,
    Progress,
    RunResult,
    Stop,
    View,
    cosine_decay,
    newton_polish,
    run,
)
from landscope.problems import (
    OneHiddenRegression,
    Problem,
    ReluTeacherStudent,
    init_from_seeds,
    planted,
)
from landscope.problems.capabilities import RowData
from reference.lbfgs_problems import Rosenbrock, reference_lbfgs
from reference.one_row import run_alone
from reference.toy_problems import double_well, quartic_bowl

DT = torch.float64
SEEDS = list(range(6))
# Batched vs one row: the same float64 operations on each row; only the summation order
# inside a batched matmul may differ, and GD contracts towards a minimum, so the gap
# stays at rounding level over hundreds of steps.
LOOP = {"rtol": 1e-12, "atol": 1e-12}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _gd_loop(
    problem: Problem,
    theta: torch.Tensor,
    lr: float,
    tol: float,
    max_steps: int,
    loss_target: float | None = None,
):
    """Plain GD on one (1, P) row: theta -= lr * grad until ||grad|| <= tol (or, if
    given, loss <= loss_target)."""

    def done(g: torch.Tensor) -> bool:
        small = loss_target is not None and float(problem.loss(theta)[0]) <= loss_target
        return float(g.norm()) <= tol or small

    steps = 0
    g = problem.grad(theta)
    while not done(g) and steps < max_steps:
        theta = theta - lr * g
        steps += 1
        g = problem.grad(theta)
    return theta, steps, float(g.norm())


def _adam_loop(problem: Problem, theta: torch.Tensor, lr: float, tol: float, max_steps: int):
    """Plain Adam (Kingma & Ba 2015, Algorithm 1) on one row."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    steps = 0
    g = problem.grad(theta)
    while float(g.norm()) > tol and steps < max_steps:
        steps += 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**steps)) / ((v / (1 - b2**steps)).sqrt() + eps)
        g = problem.grad(theta)
    return theta, steps, float(g.norm())


class Bowls:
    """Row r: f_r(x) = c_r |x|^2 / 2 + q_r |x|^4 / 4, its own (c_r, q_r) (rows own data).

    With c_r > 0 a bowl with its minimum 0 at the origin; with c_r < 0 and q_r = 0
    unbounded below, so descent from any x != 0 diverges.
    """

    dtype, device = DT, torch.device("cpu")

    def __init__(
        self, c: list[float] | torch.Tensor, q: list[float] | torch.Tensor, P: int
    ) -> None:
        self.c, self.q = torch.as_tensor(c, dtype=DT), torch.as_tensor(q, dtype=DT)
        self.n_params = P

    def select(self, rows: torch.Tensor) -> Bowls:
        return Bowls(self.c[rows], self.q[rows], self.n_params)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert theta.shape == (self.c.shape[0], self.n_params), "rows and data out of step"
        xx = theta.square().sum(1)
        loss = 0.5 * self.c * xx + 0.25 * self.q * xx * xx
        return loss, (self.c + self.q * xx)[:, None] * theta

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[0]

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]


class Spy:
    """Wraps a problem whose rows own data and logs every call with its original rows."""

    def __init__(self, inner, ids: torch.Tensor, log: list | None = None) -> None:
        self.inner, self.ids = inner, ids
        self.n_params, self.dtype, self.device = inner.n_params, inner.dtype, inner.device
        self.log = [] if log is None else log

    def select(self, rows: torch.Tensor) -> Spy:
        return Spy(self.inner.select(rows), self.ids[rows], self.log)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        self.log.append(("loss", tuple(self.ids.tolist())))
        return self.inner.loss(theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.log.append(("loss_and_grad", tuple(self.ids.tolist())))
        return self.inner.loss_and_grad(theta)


# ------------------------------------------------------------------ batched vs loops
@pytest.mark.parametrize("k", [4, 5, 6])
def test_batched_gd_equals_per_seed_loops(k: int) -> None:
    prob = ReluTeacherStudent(k=k)
    theta0 = init_from_seeds(prob, SEEDS)
    R, P = theta0.shape
    assert (R, P) == (len(SEEDS), k * k)
    lr, tol = 0.5, 1e-7
    stop = Stop(grad_tol=tol, max_steps=5000)
    res = run(prob, theta0, GD(lr), stop=stop)
    assert res.theta.shape == (R, P) and res.steps.shape == res.status.shape == (R,)
    assert res.status_names() == ["converged"] * R
    assert_close(res.grad_norm, prob.grad(res.theta).norm(dim=1), what="reported grad norm")
    assert bool((res.grad_norm <= tol).all())
    assert len(set(res.steps.tolist())) > 1  # rows stop at different steps: freezing is used
    # GD never needs the loss, so the driver never computed it
    assert res.loss.shape == (R,) and bool(torch.isnan(res.loss).all())
    alone = run_alone(prob, theta0, GD(lr), stop)
    assert alone.steps.tolist() == res.steps.tolist(), "R = 1 runs"
    assert_close(alone.theta, res.theta, **LOOP, what="R = 1 runs")
    for r, seed in enumerate(SEEDS):
        theta, steps, gn = _gd_loop(prob, theta0[r : r + 1], lr, tol, 5000)
        assert steps == int(res.steps[r]), f"seed {seed}: plain loop"
        assert_close(theta[0], res.theta[r], **LOOP, what=f"seed {seed}: plain loop")
        assert gn <= tol


def test_batched_adam_equals_per_row_loop() -> None:
    prob = ReluTeacherStudent(k=4)
    theta0 = init_from_seeds(prob, SEEDS)
    lr, tol, budget = 1e-2, 1e-5, 900
    res = run(prob, theta0, Adam(lr=lr), stop=Stop(grad_tol=tol, max_steps=budget))
    names = res.status_names()
    assert set(names) == {"converged", "max_steps"}  # both endings among these seeds
    for r in range(len(SEEDS)):
        theta, steps, gn = _adam_loop(prob, theta0[r : r + 1], lr, tol, budget)
        assert steps == int(res.steps[r]), f"row {r}"
        assert names[r] == ("converged" if gn <= tol else "max_steps")
        # Adam divides by sqrt(vhat) + 1e-8, which amplifies rounding in small gradient
        # entries; 1e-10 leaves room for that over 900 steps
        assert_close(theta[0], res.theta[r], rtol=1e-10, atol=1e-10, what=f"Adam row {r}")


# ------------------------------------------------------------------ per-row stopping
# quartic bowl, lr 0.5: rows need different numbers of steps; row 1 starts at |x| = 3 >
# sqrt(3) and blows up; row 4 starts at the minimum itself.
START = torch.tensor(
    [[0.5, -0.3], [3.0, 0.1], [1.0, 1.2], [1e-8, 2e-9], [0.0, 0.0], [1.5, -1.5]], dtype=DT
)


@pytest.mark.parametrize("check_every", [1, 4])
def test_rows_freeze_diverge_and_stop_independently(check_every: int) -> None:
    prob = quartic_bowl()
    assert isinstance(prob, Problem)
    lr, tol = 0.5, 1e-10
    stop = Stop(grad_tol=tol, max_steps=1000, check_every=check_every)
    res = run(prob, START, GD(lr), stop=stop)
    names = res.status_names()
    assert names == ["converged", "diverged", "converged", "converged", "converged", "converged"]
    assert float(res.grad_norm[1]) == float("inf")
    # the diverged row stops where its gradient passed 1e12 (or became NaN), within 4 steps
    g1 = prob.grad(res.theta[1:2])
    assert not bool(torch.isfinite(g1).all()) or float(g1.norm()) > 1e12
    assert 1 <= int(res.steps[1]) <= 4
    assert int(res.steps[4]) == 0 and float(res.theta[4].abs().max()) == 0.0
    for r in (0, 2, 3, 5):
        theta, steps, gn = _gd_loop(prob, START[r : r + 1], lr, tol, 1000)
        assert steps == int(res.steps[r]), f"row {r}"
        # every operation is elementwise here: the batched run is bit-for-bit the loop
        assert_close(res.theta[r], theta[0], rtol=0, atol=0, what=f"frozen row {r}")
        assert float(res.grad_norm[r]) == gn
    # rows stop at different steps, so earlier ones sat frozen while the others ran
    assert len({int(res.steps[r]) for r in (0, 2, 3, 5)}) >= 3


def test_max_steps_status() -> None:
    prob = quartic_bowl()
    res = run(prob, START, GD(0.5), stop=Stop(grad_tol=1e-10, max_steps=5))
    assert res.status_names() == [
        "max_steps",
        "diverged",
        "max_steps",
        "max_steps",
        "converged",
        "max_steps",
    ]
    for r in (0, 2, 3, 5):
        theta, steps, gn = _gd_loop(prob, START[r : r + 1], 0.5, 0.0, 5)
        assert steps == 5 == int(res.steps[r])
        assert_close(res.theta[r], theta[0], rtol=0, atol=0, what=f"row {r} after 5 steps")
        assert float(res.grad_norm[r]) == gn
    zero = run(prob, START, GD(0.5), stop=Stop(grad_tol=1e-10, max_steps=0))
    assert zero.status_names()[4] == "converged" and zero.status_names().count("max_steps") == 5
    assert torch.equal(zero.theta, START) and int(zero.steps.max()) == 0


def test_nan_start_is_diverged_at_step_zero() -> None:
    prob = ReluTeacherStudent(k=3)
    theta0 = prob.init(3, generator=torch.Generator().manual_seed(0))
    theta0[1, 4] = float("nan")
    stop = Stop(grad_tol=1e-7, max_steps=5000)
    res = run(prob, theta0, GD(0.5), stop=stop)
    assert res.status_names() == ["converged", "diverged", "converged"]
    assert int(res.steps[1]) == 0 and float(res.grad_norm[1]) == float("inf")
    ok = run(prob, theta0[[0, 2]], GD(0.5), stop=stop)
    assert_close(res.theta[[0, 2]], ok.theta, **LOOP, what="rows beside a NaN row")


def _bowls_and_starts(bad: bool) -> tuple[Bowls, torch.Tensor]:
    """Four bowls needing different step counts; with ``bad`` a fifth, unbounded row
    (c = -1, q = 0) in the middle and a sixth that starts at NaN."""
    c, q = [1.0, 0.5, 2.0, 0.3], [1.0, 1.0, 0.5, 2.0]
    theta0 = torch.randn(4, 3, generator=_gen(11), dtype=DT) * 0.3
    if not bad:
        return Bowls(c, q, 3), theta0
    nan_row = torch.tensor([[math.nan, 0.0, 1.0]], dtype=DT)
    theta0 = torch.cat([theta0[:2], torch.ones(1, 3, dtype=DT), theta0[2:], nan_row])
    return Bowls([*c[:2], -1.0, *c[2:], 1.0], [*q[:2], 0.0, *q[2:], 1.0], 3), theta0


@pytest.mark.parametrize(
    "method", [GD(0.4), Adam(0.05), Armijo(), LBFGS()], ids=["gd", "adam", "armijo", "lbfgs"]
)
def test_diverging_rows_do_not_disturb_the_others(method) -> None:
    # Adam's steps are about lr long whatever the gradient: it reaches neither a tiny
    # gradient nor a huge one quickly
    adam = isinstance(method, Adam)
    stop = Stop(grad_tol=1e-5 if adam else 1e-9, max_steps=3000)
    prob, theta0 = _bowls_and_starts(bad=True)
    res = run(prob, theta0, method, stop=stop)
    good_prob, good_theta0 = _bowls_and_starts(bad=False)
    good = run(good_prob, good_theta0, method, stop=stop)
    others = [0, 1, 3, 4]
    assert good.status_names() == ["converged"] * 4
    assert len(set(good.steps.tolist())) > 1
    # the NaN row at once, with the iterate where it stopped
    assert res.status_names()[5] == "diverged" and int(res.steps[5]) == 0
    assert float(res.grad_norm[5]) == math.inf
    assert torch.allclose(res.theta[5], theta0[5], rtol=0, atol=0, equal_nan=True)
    # the unbounded row once its gradient passed ``diverge`` (|grad| = |x| there); Adam
    # moves about lr per step and runs out of steps first
    if adam:
        assert res.status_names()[2] == "max_steps" and int(res.steps[2]) == 3000
        assert float(res.theta[2].norm()) > 0.05 * 3000 / 2
    else:
        assert res.status_names()[2] == "diverged" and float(res.grad_norm[2]) == math.inf
        assert bool(torch.isfinite(res.theta[2]).all()) and int(res.steps[2]) > 0
        assert float(res.theta[2].norm()) > 1e12
    # the other rows: the same outcome as without the bad rows, to rounding
    assert res.steps[others].tolist() == good.steps.tolist()
    assert res.status[others].tolist() == good.status.tolist()
    assert_close(res.theta[others], good.theta, **LOOP, what="rows beside diverging ones")


# ------------------------------------------------------------------ loss target
def test_loss_target_stops_gd_rows_at_the_first_small_loss() -> None:
    prob = quartic_bowl(P=3)
    theta0 = torch.tensor(
        [[0.5, -0.3, 0.2], [1.0, 1.2, -0.4], [1e-5, 0.0, 0.0], [0.02, 0.01, 0.0]], dtype=DT
    )
    lr, target = 0.5, 1e-6
    stop = Stop(grad_tol=0.0, loss_target=target, max_steps=1000)
    res = run(prob, theta0, GD(lr), stop=stop)
    assert res.status_names() == ["converged"] * 4
    # grad_tol = 0: the loss target stopped them, row 2 at once
    assert bool((res.grad_norm[[0, 1]] > 1e-4).all()) and bool((res.grad_norm > 0).all())
    assert_close(res.loss, prob.loss(res.theta), rtol=0, atol=0, what="recorded loss")
    assert bool((res.loss <= target).all())
    for r in range(4):
        theta, steps, gn = _gd_loop(prob, theta0[r : r + 1], lr, 0.0, 1000, loss_target=target)
        assert steps == int(res.steps[r]), f"row {r}"
        assert_close(res.theta[r], theta[0], rtol=0, atol=0, what=f"row {r}")  # elementwise
        assert float(res.grad_norm[r]) == gn
        if steps > 0:  # the iterate before was still above the target: the first one
            before, _, _ = _gd_loop(prob, theta0[r : r + 1], lr, 0.0, steps - 1)
            assert float(prob.loss(before)[0]) > target
    assert int(res.steps[2]) == 0 and len(set(res.steps.tolist())) >= 3


def test_loss_target_stops_lbfgs_rows_at_the_first_small_loss() -> None:
    prob = Rosenbrock(2)
    theta0 = prob.init(6, generator=_gen(2))[[0, 1, 3, 4, 5]]  # row 2: 1064 steps
    target = 1e-6
    res = run(prob, theta0, LBFGS(), stop=Stop(grad_tol=0.0, loss_target=target, max_steps=500))
    assert res.status_names() == ["converged"] * 5
    assert_close(res.loss, prob.loss(res.theta), what="recorded loss")
    for r in range(5):
        # the textbook loop's path, then its first point with loss <= target
        path = reference_lbfgs(prob, theta0[r], grad_tol=1e-10, max_steps=2000)[3]
        losses = prob.loss(torch.stack(path))
        first = int(torch.nonzero(losses <= target)[0, 0])
        assert first == int(res.steps[r]) > 0, f"row {r}"
        assert_close(res.theta[r], path[first], **LOOP, what=f"row {r}")


# ------------------------------------------------------------------ check_every
def _one_hidden(act: str, seeds: list[int]) -> tuple[OneHiddenRegression, torch.Tensor]:
    p = planted(4, 2, 2.0, 60, seeds, act)
    prob = OneHiddenRegression(p.X, p.y, p.v, act)
    return prob, torch.cat([prob.init(1, generator=_gen(100 + s)) for s in seeds])


class RosenbrockLS:
    """r(x) = (10 (x2 - x1^2), 1 - x1): F = Rosenbrock / 2, minimum at (1, 1), F = 0."""

    n_params = 2

    def residuals(self, t: torch.Tensor) -> torch.Tensor:
        return torch.stack([10 * (t[:, 1] - t[:, 0] ** 2), 1 - t[:, 0]], dim=1)

    def residuals_and_jacobian(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        J = torch.zeros(t.shape[0], 2, 2, dtype=t.dtype)
        J[:, 0, 0], J[:, 0, 1], J[:, 1, 0] = -20 * t[:, 0], 10.0, -1.0
        return self.residuals(t), J


def _rosenbrock_ls() -> tuple[RosenbrockLS, torch.Tensor]:
    start = [[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [-2.0, 3.0], [1.0, 1.0], [0.9, 0.8]]
    return RosenbrockLS(), torch.tensor(start, dtype=DT)


def _double_well() -> tuple[object, torch.Tensor]:
    start = [[0.3, 0.5], [0.2, -0.4], [0.5, 1.5], [1e-2, 2e-2], [0.05, 0.9], [1.0, 0.2]]
    return double_well(), torch.tensor(start, dtype=DT)


CHECK_CASES = {
    "gd": (lambda: (quartic_bowl(), START), GD(0.5), Stop(grad_tol=1e-10, max_steps=1000)),
    # the bowls' rows own their data: compaction restricts the problem with the batch
    "adam": (lambda: _bowls_and_starts(bad=True), Adam(0.05), Stop(grad_tol=1e-5, max_steps=3000)),
    "armijo": (lambda: _bowls_and_starts(bad=True), Armijo(), Stop(max_steps=3000)),
    "lbfgs": (lambda: _bowls_and_starts(bad=True), LBFGS(), Stop(max_steps=3000)),
    "lm": (_rosenbrock_ls, LevenbergMarquardt(), Stop(grad_tol=1e-12, max_steps=500)),
    "newton": (_double_well, Newton(), Stop(grad_tol=1e-12, max_steps=20, diverge=math.inf)),
}


def _frozen_rows(log: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> Observer:
    """An observer logging the rows that finished at an earlier iteration and are still in
    the working batch: (original rows, their iterates, their step counts)."""

    def observe(view: View) -> None:
        old = view.done & (view.status == 0)
        if bool(old.any()):
            log.append((view.rows[old], view.theta[old].clone(), view.steps[old].clone()))

    return observe


@pytest.mark.parametrize("case", list(CHECK_CASES))
def test_check_every_gives_the_same_result(case: str) -> None:
    make, method, stop = CHECK_CASES[case]
    prob, theta0 = make()
    ref = run(prob, theta0, method, stop=stop)
    assert len(set(ref.steps.tolist())) >= 3, "rows must finish at different iterations"
    for every in (3, 7):
        seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        res = run(
            prob,
            theta0,
            method,
            stop=replace(stop, check_every=every),
            observers=[_frozen_rows(seen)],
        )
        assert seen, f"check_every = {every}: no row was ever frozen"
        for rows, theta, steps in seen:  # frozen: still where and as old as they finished
            assert torch.allclose(theta, res.theta[rows], rtol=0, atol=0, equal_nan=True)
            assert torch.equal(steps, res.steps[rows])
        # discrete outcomes exactly; the iterates to rounding (batched kernels see more
        # rows between compactions, which may change their summation order)
        assert res.steps.tolist() == ref.steps.tolist(), f"check_every = {every}"
        assert res.status.tolist() == ref.status.tolist(), f"check_every = {every}"
        assert_close(res.grad_norm, ref.grad_norm, **LOOP, what="grad norm")
        for f in ("theta", "loss"):  # NaN where a row started at NaN or (loss) where the
            # method never computed it (GD, Adam, Newton), in both runs alike
            a, b = getattr(res, f), getattr(ref, f)
            assert torch.equal(torch.isnan(a), torch.isnan(b)), f
            ok = ~torch.isnan(b)
            assert_close(a[ok], b[ok], **LOOP, what=f"{case} {f}, check_every = {every}")
        assert bool(torch.isnan(ref.loss).all()) == (case in ("gd", "adam", "newton"))


# ------------------------------------------------------------------ rows that own data
@pytest.mark.parametrize(
    ("method", "act", "max_steps"),
    # Armijo's batch-vs-row test with more steps is in test_armijo.py
    [(LBFGS(), "relu", 300), (LBFGS(), "tanh", 300), (Armijo(), "relu", 120)],
    ids=["lbfgs-relu", "lbfgs-tanh", "armijo-relu"],
)
def test_row_data_batched_equals_one_row_at_a_time(method, act: str, max_steps: int) -> None:
    seeds = [0, 1, 2, 3, 4]
    prob, theta0 = _one_hidden(act, seeds)
    assert isinstance(prob, RowData)
    stop = Stop(grad_tol=1e-8, loss_target=1e-14, max_steps=max_steps)
    spy = Spy(prob, torch.arange(len(seeds)))
    res = run(spy, theta0, method, stop=stop)
    # rows leave the batch at different times, so the problem is restricted with them
    assert len(set(res.steps.tolist())) >= 3
    # and line searches evaluate a strict subset of the rows of the iteration's batch:
    # the problem must be restricted to exactly those rows there too
    batch, subsets = (), 0
    for kind, rows in spy.log:
        if kind == "loss_and_grad":
            batch = rows
        else:
            subsets += set(rows) < set(batch)
    assert subsets > 0, "no line search ran on a strict subset of the rows"

    def own(r: int) -> OneHiddenRegression:  # built from scratch, not by select
        p = planted(4, 2, 2.0, 60, [seeds[r]], act)
        return OneHiddenRegression(p.X, p.y, p.v, act)

    alone = run_alone(prob, theta0, method, stop, row_problem=own)
    # accept/reject decisions are discrete, so step counts and statuses agree exactly;
    # the iterates are the same float64 operations per row except for the batched
    # matmul's kernel choice, rounding ~1e-16 per step that a few hundred (locally
    # contracting) steps cannot grow to 1e-10
    assert res.steps.tolist() == alone.steps.tolist()
    assert res.status.tolist() == alone.status.tolist()
    assert_close(res.theta, alone.theta, rtol=1e-10, atol=1e-10, what="batched vs one row")
    assert_close(res.grad_norm, alone.grad_norm, rtol=1e-8, atol=1e-12, what="grad norm")


# ------------------------------------------------------------------ observers
@pytest.mark.parametrize("check_every", [1, 3])
def test_observer_sees_every_iteration(check_every: int) -> None:
    prob, R = quartic_bowl(), START.shape[0]
    views: list[View] = []
    stop = Stop(grad_tol=1e-10, max_steps=1000, check_every=check_every)
    res = run(prob, START, GD(0.5), stop=stop, observers=[views.append])
    # GD takes one step per iteration and no row was stuck: one view per iteration
    assert [v.step for v in views] == list(range(int(res.steps.max()) + 1))
    finished_at: dict[int, int] = {}
    rows_before = list(range(R))
    for i, v in enumerate(views):
        Ra = v.rows.shape[0]
        assert v.total == R and v.loss is None  # GD never needs the loss
        assert v.theta.shape == v.grad.shape == (Ra, 2)
        assert v.grad_norm.shape == v.steps.shape == v.status.shape == v.done.shape == (Ra,)
        rows = v.rows.tolist()
        assert rows == sorted(rows) and set(rows) <= set(rows_before)
        if i > 0 and i % check_every != 0:  # no compaction since the last view
            assert rows == rows_before
        assert_close(v.grad_norm, v.grad.norm(dim=1), rtol=0, atol=0, what="view grad norm")
        assert set(v.status.tolist()) <= {0, 1, 2, 3}
        assert v.finished == bool((v.status > 0).any())
        for j in torch.nonzero(v.status > 0).flatten().tolist():
            r = rows[j]
            assert r not in finished_at, f"row {r} finished twice"
            finished_at[r] = v.step
            assert int(v.status[j]) == int(res.status[r])
            assert int(v.steps[j]) == int(res.steps[r])
            assert torch.equal(v.theta[j], res.theta[r])
        # done: finished now or earlier (frozen rows wait for the next compaction)
        assert v.done.tolist() == [r in finished_at for r in rows]
        assert v.remaining == int((~v.done).sum()) == R - len(finished_at)
        rows_before = rows
    assert views[-1].remaining == 0 and sorted(finished_at) == list(range(R))
    # a frozen row keeps its place in the working batch, with status 0, until compaction
    frozen = [bool((v.done & (v.status == 0)).any()) for v in views]
    assert any(frozen) == (check_every > 1)


def test_progress_reports_done_counts_ending_at_total() -> None:
    prob = ReluTeacherStudent(k=5)
    theta0 = init_from_seeds(prob, SEEDS)
    R = len(SEEDS)
    calls: list[tuple[int, int, str]] = []
    views: list[tuple[int, bool, int]] = []
    res = run(
        prob,
        theta0,
        GD(0.5),
        stop=Stop(grad_tol=1e-7),
        observers=[
            Progress(lambda done, total, text: calls.append((done, total, text)), "GD step"),
            lambda v: views.append((v.step, v.finished, v.remaining)),
        ],
    )
    steps = res.steps.tolist()
    assert len(set(steps)) >= 2
    # at the start, then once per iteration at which some row finished
    expect = [(R - left, R, f"GD step {s}") for s, fin, left in views if s == 0 or fin]
    assert calls == expect
    assert calls[0][2] == "GD step 0" and calls[-1][:2] == (R, R)
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and all(t == R for _, t, _ in calls)
    # with one step per iteration, the rows done after iteration s are those with <= s steps
    for d, _, text in calls:
        s = int(text.split()[-1])
        assert d == sum(n <= s for n in steps), (d, text)


def test_observer_reports_shrinking_batch() -> None:
    prob = ReluTeacherStudent(k=5)
    theta0 = init_from_seeds(prob, SEEDS)
    calls: list[tuple[int, int]] = []

    def leaving(view: View) -> None:
        if view.finished:
            calls.append((view.step, view.remaining))

    res = run(prob, theta0, GD(0.5), stop=Stop(grad_tol=1e-7), observers=[leaving])
    steps = res.steps.tolist()
    # one call per step at which some row finished; after it the unfinished rows remain
    assert len(calls) == len(set(steps)) >= 2
    assert [a for _, a in calls] == sorted({a for _, a in calls}, reverse=True)
    assert calls[-1][1] == 0
    for step, active in calls:
        assert active == sum(s > step for s in steps), (step, active)
    assert [s for s, _ in calls] == sorted(s for s, _ in calls)


# ------------------------------------------------------------------ the record
def test_status_codes() -> None:
    assert STATUS == ("running", "converged", "max_steps", "diverged")


def test_result_keeps_the_stopping_rule_and_the_method() -> None:
    stop = Stop(grad_tol=1e-10, loss_target=1e-3, max_steps=50, diverge=1e6, check_every=2)
    res = run(quartic_bowl(), START, GD(0.5), stop=stop)
    assert isinstance(res, RunResult) and res.stop is stop and res.method == "gd"
    assert stop.columns() == {
        "stop_grad_tol": 1e-10,
        "stop_loss_target": 1e-3,
        "stop_max_steps": 50,
        "stop_diverge": 1e6,
        "stop_loss_growth": None,
    }
    assert Stop().columns(prefix="gd_") == {
        "gd_grad_tol": 1e-9,
        "gd_loss_target": None,
        "gd_max_steps": 100_000,
        "gd_diverge": 1e12,
        "gd_loss_growth": None,
    }
    assert run(quartic_bowl(), START, GD(0.5)).stop == Stop()  # the default rule
    part = res.select(torch.tensor([4, 0]))
    assert part.stop is stop and part.method == "gd"
    for f in ("theta", "grad_norm", "loss", "steps", "status"):
        a, b = getattr(part, f).double(), getattr(res, f)[[4, 0]].double()
        assert torch.allclose(a, b, rtol=0, atol=0, equal_nan=True), f
    names = {
        "adam": Adam(),
        "armijo": Armijo(),
        "lbfgs": LBFGS(),
        "newton": Newton(),
    }
    for name, method in names.items():
        assert run(quartic_bowl(), START[[0, 2]], method, stop=Stop(max_steps=2)).method == name
    assert LevenbergMarquardt().name == "levenberg_marquardt"


def test_zero_rows_return_at_once() -> None:
    calls = []

    class Counted:
        n_params, dtype, device = 2, DT, torch.device("cpu")

        def grad(self, theta: torch.Tensor) -> torch.Tensor:
            calls.append(theta.shape[0])
            if len(calls) > 5:  # an endless loop over no rows fails instead of hanging
                raise RuntimeError("the driver keeps iterating over an empty batch")
            return theta.clone()

        def hessian(self, theta: torch.Tensor) -> torch.Tensor:
            return torch.eye(2, dtype=DT).expand(theta.shape[0], 2, 2)

    empty = torch.zeros(0, 2, dtype=DT)
    res = run(Counted(), empty, GD(0.1), stop=Stop(max_steps=10))
    assert res.theta.shape == (0, 2) and res.status.shape == res.steps.shape == (0,)
    pol = newton_polish(Counted(), empty)
    assert pol.theta.shape == (0, 2) and pol.iters.shape == pol.converged.shape == (0,)


def test_theta_must_be_a_batch_of_rows() -> None:
    with pytest.raises(ValueError, match=re.escape("theta0 must be a (R, P) batch of rows")):
        run(quartic_bowl(), torch.zeros(2, dtype=DT), GD(0.1))


# ------------------------------------------------------------------ Stop validation
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grad_tol", -1.0),
        ("grad_tol", math.nan),
        ("grad_tol", math.inf),
        ("grad_tol", "1e-9"),
        ("grad_tol", True),
        ("loss_target", math.nan),
        ("loss_target", "0"),
        ("max_steps", -1),
        ("max_steps", 2.5),
        ("max_steps", 10.0),
        ("max_steps", True),
        ("diverge", 0.0),
        ("diverge", -1e12),
        ("diverge", math.nan),
        ("check_every", 0),
        ("check_every", 1.5),
        ("check_every", True),
    ],
)
def test_stop_refuses_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be") as err:
        Stop(**{field: value})
    msg = str(err.value)
    # one sentence naming the bad value
    assert msg.endswith(f"got {value!r}.") and ". " not in msg, msg


def test_stop_accepts_edge_values() -> None:
    stop = Stop(grad_tol=0, loss_target=-math.inf, max_steps=0, diverge=math.inf, check_every=1)
    assert stop.grad_tol == 0 and stop.max_steps == 0
    assert Stop(loss_target=0).loss_target == 0


# ------------------------------------------------------------------ plain transformations
class TraceState(NamedTuple):
    """Per-row state as optax keeps it: a NamedTuple of tensors, rows first."""

    velocity: torch.Tensor


class HeavyBall:
    """Momentum as a plain optax-like pair: ``init(theta)``, ``update(grad, state)``."""

    def __init__(self, lr: float, beta: float) -> None:
        self.lr, self.beta = lr, beta

    def init(self, theta: torch.Tensor) -> TraceState:
        return TraceState(torch.zeros_like(theta))

    def update(self, grad: torch.Tensor, state: TraceState) -> tuple[torch.Tensor, TraceState]:
        v = self.beta * state.velocity - self.lr * grad
        return v, TraceState(v)


def _momentum_loop(problem: Problem, theta: torch.Tensor, lr: float, beta: float, stop: Stop):
    """Heavy-ball momentum on one (1, P) row, stopped as ``run`` stops a row."""
    v, steps = torch.zeros_like(theta), 0
    while True:
        gn = float(problem.grad(theta).norm())
        if not gn <= stop.diverge:
            return theta, steps, "diverged"
        if gn <= stop.grad_tol:
            return theta, steps, "converged"
        if steps >= stop.max_steps:
            return theta, steps, "max_steps"
        v = beta * v - lr * problem.grad(theta)
        theta, steps = theta + v, steps + 1


def test_plain_transformation_is_a_method() -> None:
    prob, lr, beta = quartic_bowl(), 0.3, 0.5
    stop = Stop(grad_tol=1e-10, max_steps=1000)
    res = run(prob, START, HeavyBall(lr, beta), stop=stop)
    assert res.method == "heavyball"
    names = res.status_names()
    for r in range(START.shape[0]):  # against the momentum recursion on one row
        theta, steps, status = _momentum_loop(prob, START[r : r + 1], lr, beta, stop)
        assert (steps, status) == (int(res.steps[r]), names[r]), f"row {r}"
        if status != "diverged":  # elementwise: bit for bit
            assert_close(res.theta[r], theta[0], rtol=0, atol=0, what=f"row {r}")
    # rows left the batch at different times, each with its own slice of the state
    assert len(set(res.steps.tolist())) >= 4 and names.count("converged") >= 4


@pytest.mark.parametrize(
    "thing", [object(), GD.__init__, "gd", type("OnlyInit", (), {"init": len})()]
)
def test_object_without_init_and_update_is_refused(thing: object) -> None:
    with pytest.raises(TypeError, match="is not an optimization method: it needs init and update"):
        run(quartic_bowl(), START, thing)


def test_progress_every_reports_on_a_fixed_budget() -> None:
    """With no row finishing before the budget, ``every`` still reports as steps pass."""
    prob = ReluTeacherStudent(k=3)
    theta0 = init_from_seeds(prob, [0, 1])
    calls: list[tuple[int, int, str]] = []
    stop = Stop(grad_tol=None, max_steps=10)
    run(prob, theta0, GD(0.1), stop=stop, observers=[Progress(lambda *a: calls.append(a), every=4)])
    assert [c[2] for c in calls] == ["step 0", "step 4", "step 8", "step 10"]
    assert calls[-1][:2] == (2, 2) and all(c[:2] == (0, 2) for c in calls[:-1])


# ------------------------------------------------------------------ compiled GD path
def _count_fused(monkeypatch) -> list[int]:
    """Record the rows of every ``ReluTeacherStudent.fused_gd`` call."""
    calls: list[int] = []
    inner = ReluTeacherStudent.fused_gd

    def counted(self, theta, *a, **kw):
        calls.append(theta.shape[0])
        return inner(self, theta, *a, **kw)

    monkeypatch.setattr(ReluTeacherStudent, "fused_gd", counted)
    return calls


@pytest.mark.parametrize(("lr", "codes"), [(0.5, {"converged", "max_steps"}), (60.0, {"diverged"})])
def test_fused_gd_equals_the_torch_steps(monkeypatch, lr: float, codes: set) -> None:
    prob = ReluTeacherStudent(k=5)
    theta0 = init_from_seeds(prob, range(10))
    stop = Stop(grad_tol=1e-6, max_steps=400, diverge=1e6)  # 291..485 steps to converge
    calls = _count_fused(monkeypatch)
    fast = run(prob, theta0, GD(lr), stop=stop, observers=[Progress(lambda *a: None)])
    assert calls and calls[0] == 10  # the compiled path ran (Progress allows it)
    ref = run(prob, theta0, GD(lr), stop=stop, fused=False)
    assert set(fast.status_names()) == codes
    assert fast.status.tolist() == ref.status.tolist()
    assert fast.steps.tolist() == ref.steps.tolist()
    assert torch.equal(torch.isinf(fast.grad_norm), torch.isinf(ref.grad_norm))
    done = ref.status != 3  # a diverged row's iterate is wherever the blow-up stood
    # the same steps in another summation order (compiled loops vs batched matmuls)
    assert_close(fast.theta[done], ref.theta[done], **LOOP, what="fused vs torch")
    assert_close(fast.grad_norm[done], ref.grad_norm[done], **LOOP, what="grad norms")
    assert bool(torch.isnan(fast.loss).all())  # GD never computed the loss


def test_fused_gd_only_where_it_applies(monkeypatch) -> None:
    prob = ReluTeacherStudent(k=4)
    theta0 = init_from_seeds(prob, range(3))
    stop = Stop(grad_tol=1e-6, max_steps=200)
    calls = _count_fused(monkeypatch)
    run(prob, theta0, GD(0.5), stop=stop)
    assert calls, "no observers: the compiled path"
    for why, kw in {
        "an observer that sees every step": {"observers": [lambda v: None]},
        "turned off": {"fused": False},
        "a loss target": {"stop": Stop(grad_tol=1e-6, max_steps=200, loss_target=1e-9)},
        "a schedule": {"method": GD(0.5, schedule=cosine_decay(200))},
        "Adam": {"method": Adam(0.01)},
    }.items():
        calls.clear()
        run(prob, theta0, kw.pop("method", GD(0.5)), **{"stop": stop, **kw})
        assert not calls, why
    monkeypatch.setenv("LANDSCOPE_FUSED", "0")
    run(prob, theta0, GD(0.5), stop=stop)
    assert not calls, "LANDSCOPE_FUSED=0"


def test_fused_gd_declined_falls_back_to_torch() -> None:
    # float32 rows and a trained second layer are not covered by the kernel
    for prob in (ReluTeacherStudent(k=4, dtype="float32"),
                 ReluTeacherStudent(k=3, train_second_layer=True)):  # fmt: skip
        theta0 = init_from_seeds(prob, range(3))
        stop = Stop(grad_tol=1e-4, max_steps=300)
        a = run(prob, theta0, GD(0.3), stop=stop)
        b = run(prob, theta0, GD(0.3), stop=stop, fused=False)
        assert torch.equal(a.theta, b.theta) and a.steps.tolist() == b.steps.tolist()


def test_progress_on_the_fused_path_ends_at_total() -> None:
    prob = ReluTeacherStudent(k=5)
    theta0 = init_from_seeds(prob, SEEDS)
    calls: list[tuple[int, int, str]] = []
    res = run(prob, theta0, GD(0.5), stop=Stop(grad_tol=1e-7),
              observers=[Progress(lambda *a: calls.append(a), "GD step", every=100)])  # fmt: skip
    assert calls[0] == (0, len(SEEDS), "GD step 0")
    assert calls[-1] == (len(SEEDS), len(SEEDS), f"GD step {int(res.steps.max())}")
    done = [c[0] for c in calls]
    assert done == sorted(done)
    # one view per 100 steps: the labels count them
    steps = [int(c[2].split()[-1]) for c in calls]
    assert all(s % 100 == 0 for s in steps[:-1]) and steps == sorted(steps)
