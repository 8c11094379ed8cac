"""FIRE as a driver method: convergence on convex quadratics, a hand-written one-system
loop (Bitzek et al. 2006), batched rows against one-row runs, the per-block step cap, and
argument checks."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import FIRE, Stop, run
from landscope.problems import Quadratic
from reference.one_row import run_alone

DT = torch.float64


def _quadratic(P: int, cond: float, seed: int) -> Quadratic:
    """1/2 (x - c)' A (x - c), A = Q diag(1 .. cond) Q'."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=g, dtype=DT))
    A = Q @ torch.diag(torch.logspace(0, torch.log10(torch.tensor(cond)), P, dtype=DT)) @ Q.T
    return Quadratic(0.5 * (A + A.T), center=torch.randn(P, generator=g, dtype=DT))


def _fire_loop(problem, x, dt, dt_max, max_step, block, tol, max_steps):
    """FIRE on one system x (P,) with Python scalars, as in the paper: (x, steps)."""
    alpha, n_pos, steps = 0.1, 0, 0
    v = torch.zeros_like(x)
    g = problem.grad(x[None])[0]
    while float(g.norm()) > tol and steps < max_steps:
        F = -g
        if float(F @ v) > 0:
            v = (1 - alpha) * v + alpha * float(v.norm()) * F / float(F.norm())
            n_pos += 1
            if n_pos > 5:
                dt, alpha = min(1.1 * dt, dt_max), 0.99 * alpha
        else:
            v, n_pos, alpha, dt = torch.zeros_like(v), 0, 0.1, 0.5 * dt
        v = v + dt * F
        dx = (dt * v).reshape(-1, block)
        dx = dx * torch.clamp(max_step / dx.norm(dim=1, keepdim=True), max=1.0)
        x = x + dx.reshape(-1)
        g = problem.grad(x[None])[0]
        steps += 1
    return x, steps


def test_converges_on_a_convex_quadratic():
    prob = _quadratic(6, cond=100.0, seed=0)
    x0 = 3 * torch.randn(5, 6, generator=torch.Generator().manual_seed(1), dtype=DT)
    res = run(prob, x0, FIRE(dt0=0.05, dt_max=0.5), stop=Stop(grad_tol=1e-10, max_steps=5000))
    assert res.method == "fire" and res.status_names() == ["converged"] * 5
    assert bool((res.grad_norm <= 1e-10).all())
    # |x - c| <= |grad| / lambda_min = |grad| for this A
    err = torch.linalg.vector_norm(res.theta - prob.center, dim=1)
    assert bool((err <= 1e-10).all())
    assert bool(torch.isnan(res.loss).all())  # FIRE never asks for the loss


def test_matches_a_plain_one_system_loop():
    prob = _quadratic(4, cond=30.0, seed=2)
    x0 = 5 * torch.randn(3, 4, generator=torch.Generator().manual_seed(3), dtype=DT)
    fire = FIRE(dt0=0.1, dt_max=0.4, max_step=0.3, block=2)
    stop = Stop(grad_tol=1e-9, max_steps=3000)
    res = run(prob, x0, fire, stop=stop)
    assert res.status_names() == ["converged"] * 3
    for r in range(3):
        x, steps = _fire_loop(prob, x0[r], 0.1, 0.4, 0.3, 2, 1e-9, 3000)
        assert steps == int(res.steps[r]), f"row {r}"
        assert_close(res.theta[r], x, what=f"row {r} against the loop")


def test_batched_rows_equal_one_row_runs():
    # rows with their own dt0 and step cap, finishing at different steps
    prob = _quadratic(6, cond=50.0, seed=4)
    x0 = 4 * torch.randn(4, 6, generator=torch.Generator().manual_seed(5), dtype=DT)
    dt0 = torch.tensor([0.02, 0.05, 0.1, 0.2], dtype=DT)
    cap = torch.tensor([0.1, 0.5, 1.0, 2.0], dtype=DT)
    stop = Stop(grad_tol=1e-9, max_steps=4000)
    res = run(prob, x0, FIRE(dt0=dt0, max_step=cap, block=3), stop=stop)
    assert res.status_names() == ["converged"] * 4
    assert len(set(res.steps.tolist())) > 1  # rows left the batch at different steps
    alone = [
        run(
            prob, x0[r : r + 1], FIRE(dt0=float(dt0[r]), max_step=float(cap[r]), block=3), stop=stop
        )
        for r in range(4)
    ]
    for r, one in enumerate(alone):
        assert int(one.steps[0]) == int(res.steps[r]), f"row {r}"
        assert_close(one.theta[0], res.theta[r], what=f"row {r} alone")
    # one shared dt0: the same through run_alone's stacking
    same = run_alone(prob, x0, FIRE(dt0=0.05, max_step=0.5), stop)
    both = run(prob, x0, FIRE(dt0=0.05, max_step=0.5), stop=stop)
    assert same.steps.tolist() == both.steps.tolist()
    assert_close(same.theta, both.theta, what="run_alone")


def test_first_step_halves_dt_and_the_cap_holds_per_block():
    prob = _quadratic(4, cond=10.0, seed=6)
    x = 100 * torch.ones(2, 4, dtype=DT)  # a steep start: the cap is active
    fire = FIRE(dt0=torch.tensor([1.0, 2.0], dtype=DT), max_step=0.25, block=2)
    state = fire.init(prob, x)
    assert state["v"].shape == (2, 4) and state["n_pos"].dtype == torch.long
    assert_close(state["dt_max"], torch.tensor([10.0, 20.0], dtype=DT), what="dt_max = 10 dt0")
    step = fire.update(prob, x, None, prob.grad(x), state)
    # v = 0 at the start, so the power is 0: the first step halves dt
    assert_close(step.state["dt"], torch.tensor([0.5, 1.0], dtype=DT), what="dt after step 1")
    moves = (step.theta - x).reshape(2, 2, 2).norm(dim=2)
    assert_close(moves, torch.full((2, 2), 0.25, dtype=DT), what="capped block moves")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt0": 0.0}, "dt0 must be a positive"),
        ({"dt_max": float("inf")}, "dt_max must be a positive"),
        ({"max_step": -1.0}, "max_step must be a positive"),
        ({"dt0": torch.tensor([0.1, -0.1])}, "dt0 must hold positive"),
        ({"block": 0}, "block must be None or an integer >= 1"),
        ({"n_min": -1}, "n_min must be an integer >= 0"),
        ({"f_dec": 1.0}, "0 < f_dec < 1"),
        ({"alpha0": 0.0}, "0 < alpha0 < 1"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FIRE(**kwargs)


def test_bad_shapes_raise():
    prob = _quadratic(4, cond=2.0, seed=7)
    x = torch.zeros(3, 4, dtype=DT)
    with pytest.raises(ValueError, match="block 3 does not divide the row length 4"):
        run(prob, x, FIRE(block=3))
    with pytest.raises(ValueError, match="dt0 has 2 values for 3 rows"):
        run(prob, x, FIRE(dt0=torch.tensor([0.1, 0.2], dtype=DT)))
