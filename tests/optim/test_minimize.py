"""The batched driver ``minimize`` against plain per-seed loops, per-row stopping (freeze,
divergence, step budget), compaction and the callback."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GD, STATUS, Adam, minimize
from landscope.problems import Problem, ReluTeacherStudent, init_from_seeds
from reference.toy_problems import quartic_bowl

DT = torch.float64
SEEDS = list(range(6))
# Batched vs one row: the same float64 operations on each row; only the summation order
# inside a batched matmul may differ, and GD contracts towards a minimum, so the gap
# stays at rounding level over hundreds of steps.
LOOP = {"rtol": 1e-12, "atol": 1e-12}


def _gd_loop(problem: Problem, theta: torch.Tensor, lr: float, tol: float, max_steps: int):
    """Plain GD on one (1, P) row: theta -= lr * grad until ||grad|| <= tol."""
    steps = 0
    g = problem.grad(theta)
    while float(g.norm()) > tol and steps < max_steps:
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


@pytest.mark.parametrize("k", [4, 5, 6])
def test_batched_gd_equals_per_seed_loops(k: int) -> None:
    prob = ReluTeacherStudent(k=k)
    theta0 = init_from_seeds(prob, SEEDS)
    R, P = theta0.shape
    assert (R, P) == (len(SEEDS), k * k)
    lr, tol = 0.5, 1e-7
    res = minimize(prob, theta0, GD(lr), tol=tol, max_steps=5000)
    assert res.theta.shape == (R, P) and res.steps.shape == res.status.shape == (R,)
    assert res.status_names() == ["converged"] * R
    assert_close(res.grad_norm, prob.grad(res.theta).norm(dim=1), what="reported grad norm")
    assert bool((res.grad_norm <= tol).all())
    assert len(set(res.steps.tolist())) > 1  # rows stop at different steps: freezing is used
    for r, seed in enumerate(SEEDS):
        alone = minimize(prob, init_from_seeds(prob, [seed]), GD(lr), tol=tol, max_steps=5000)
        assert int(alone.steps[0]) == int(res.steps[r]), f"seed {seed}: R = 1 run"
        assert_close(alone.theta[0], res.theta[r], **LOOP, what=f"seed {seed}: R = 1 run")
        theta, steps, gn = _gd_loop(prob, theta0[r : r + 1], lr, tol, 5000)
        assert steps == int(res.steps[r]), f"seed {seed}: plain loop"
        assert_close(theta[0], res.theta[r], **LOOP, what=f"seed {seed}: plain loop")
        assert gn <= tol


def test_batched_adam_equals_per_row_loop() -> None:
    prob = ReluTeacherStudent(k=4)
    theta0 = init_from_seeds(prob, SEEDS)
    lr, tol, budget = 1e-2, 1e-5, 900
    res = minimize(prob, theta0, Adam(lr=lr), tol=tol, max_steps=budget)
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
    res = minimize(prob, START, GD(lr), tol=tol, max_steps=1000, check_every=check_every)
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
    res = minimize(prob, START, GD(0.5), tol=1e-10, max_steps=5)
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
    zero = minimize(prob, START, GD(0.5), tol=1e-10, max_steps=0)
    assert zero.status_names()[4] == "converged" and zero.status_names().count("max_steps") == 5
    assert torch.equal(zero.theta, START) and int(zero.steps.max()) == 0


def test_nan_start_is_diverged_at_step_zero() -> None:
    prob = ReluTeacherStudent(k=3)
    theta0 = prob.init(3, generator=torch.Generator().manual_seed(0))
    theta0[1, 4] = float("nan")
    res = minimize(prob, theta0, GD(0.5), tol=1e-7, max_steps=5000)
    assert res.status_names() == ["converged", "diverged", "converged"]
    assert int(res.steps[1]) == 0 and float(res.grad_norm[1]) == float("inf")
    ok = minimize(prob, theta0[[0, 2]], GD(0.5), tol=1e-7, max_steps=5000)
    assert_close(res.theta[[0, 2]], ok.theta, **LOOP, what="rows beside a NaN row")


def test_callback_reports_shrinking_batch() -> None:
    prob = ReluTeacherStudent(k=5)
    theta0 = init_from_seeds(prob, SEEDS)
    calls: list[tuple[int, int]] = []
    res = minimize(prob, theta0, GD(0.5), tol=1e-7, callback=lambda s, a: calls.append((s, a)))
    steps = res.steps.tolist()
    # one call per step at which some row finished; after it the unfinished rows remain
    assert len(calls) == len(set(steps)) >= 2
    assert [a for _, a in calls] == sorted({a for _, a in calls}, reverse=True)
    assert calls[-1][1] == 0
    for step, active in calls:
        assert active == sum(s >= step for s in steps), (step, active)
    assert [s for s, _ in calls] == sorted(s for s, _ in calls)


def test_status_codes() -> None:
    assert STATUS == ("running", "converged", "max_steps", "diverged")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": -1.0}, "tol must be"),
        ({"tol": float("nan")}, "tol must be"),
        ({"max_steps": -1}, "max_steps must be"),
        ({"check_every": 0}, "check_every >= 1"),
        ({"diverge_grad": 0.0}, "diverge_grad must be"),
    ],
    ids=["tol", "tol-nan", "max_steps", "check_every", "diverge_grad"],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    prob = quartic_bowl()
    with pytest.raises(ValueError, match=match):
        minimize(prob, START, GD(0.1), **kwargs)
