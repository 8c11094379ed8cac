"""Driver additions for fixed-budget runs tracked by observers: ``Stop(loss_growth=...)``
(a row whose loss exceeds loss_growth times its starting loss is diverged) and
``Stop(grad_tol=None)`` (no gradient test), against plain per-row loops, through
compaction, and their validation (a rule left out costs the default path nothing); the
working problem shown to observers (``View.problem``)."""

from __future__ import annotations

import math

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GD, STATUS, Stop, View, run
from landscope.problems import OneHiddenRegression, Quadratic, planted
from reference.one_row import run_alone

DT = torch.float64
# eigenvalues 1, 4, 9: GD with lr 0.3 contracts along the first two axes (|1 - 0.3 k| < 1)
# and blows up along the third (|1 - 2.7| = 1.7): the loss of a row with a third
# component grows by 1.7^2 = 2.89 per step once that component dominates
QUAD = Quadratic(torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=DT)))
LR = 0.3
X0 = torch.tensor(
    [
        [1.0, 1.0, 1e-3],  # grows from a small start: stops late
        [2.0, -1.0, 0.0],  # no unstable component: converges
        [-3.0, 0.2, 0.5],  # grows at once
        [0.5, 0.5, -2.0],
        [0.0, 0.0, 1e-6],  # tiny start, tiny loss: relative growth still catches it
    ],
    dtype=DT,
)


def _growth_loop(x: torch.Tensor, growth: float, tol: float, max_steps: int):
    """GD on one row: (steps, status) with the loss-growth test as ``Stop`` states it."""
    loss0 = float(QUAD.loss(x[None])[0])
    steps = 0
    while True:
        loss, g = (float(v) for v in (QUAD.loss(x[None])[0], QUAD.grad(x[None]).norm()))
        if not math.isfinite(loss) or loss > growth * abs(loss0):
            return steps, "diverged"
        if g <= tol:
            return steps, "converged"
        if steps >= max_steps:
            return steps, "max_steps"
        x = x - LR * QUAD.grad(x[None])[0]
        steps += 1


@pytest.mark.parametrize("check_every", [1, 3])
@pytest.mark.parametrize("growth", [1.0, 10.0, 1e6])
def test_loss_growth_stops_each_row_at_its_first_blow_up(growth: float, check_every: int):
    stop = Stop(grad_tol=1e-10, max_steps=500, loss_growth=growth, check_every=check_every)
    res = run(QUAD, X0, GD(LR), stop=stop)
    want = [_growth_loop(x, growth, 1e-10, 500) for x in X0]
    assert res.steps.tolist() == [s for s, _ in want]
    assert res.status_names() == [st for _, st in want]
    assert res.status_names()[1] == "converged" and "diverged" in res.status_names()
    # the recorded loss of a diverged row is the first one above its ceiling
    loss0 = QUAD.loss(X0)
    div = res.status == STATUS.index("diverged")
    assert bool((res.loss[div] > growth * loss0[div]).all())
    # rows leave the batch at different steps: each keeps its own ceiling
    alone = run_alone(QUAD, X0, GD(LR), stop)
    assert torch.equal(res.steps, alone.steps) and torch.equal(res.status, alone.status)
    assert_close(res.theta, alone.theta, what="theta")


def test_loss_growth_ceiling_is_relative_to_each_start():
    """The same path scaled by 10: losses scale by 100, the ceiling with them, the stop
    step stays; a zero start is diverged by any positive loss."""
    stop = Stop(grad_tol=1e-12, max_steps=200, loss_growth=50.0)
    x = torch.tensor([[0.3, 0.1, 1e-2]], dtype=DT)
    a, b = run(QUAD, x, GD(LR), stop=stop), run(QUAD, 10 * x, GD(LR), stop=stop)
    assert a.status_names() == b.status_names() == ["diverged"]
    assert int(a.steps[0]) == int(b.steps[0]) > 0
    # loss0 = 0 (the minimizer): GD stays there, the gradient test converges it at step 0
    zero = run(QUAD, torch.zeros(1, 3, dtype=DT), GD(LR), stop=stop)
    assert zero.status_names() == ["converged"] and int(zero.steps[0]) == 0
    # loss_growth inf never fires (not even with loss0 = 0: inf * 0 is no ceiling)
    inf = Stop(grad_tol=None, max_steps=30, loss_growth=math.inf, diverge=math.inf)
    out = run(QUAD, torch.cat([x, torch.zeros(1, 3, dtype=DT)]), GD(LR), stop=inf)
    assert out.status_names() == ["max_steps", "max_steps"]


class Counting:
    """QUAD, counting which evaluations the driver asks for."""

    def __init__(self) -> None:
        self.calls = {"loss_and_grad": 0, "grad": 0}

    def loss_and_grad(self, theta):
        self.calls["loss_and_grad"] += 1
        return QUAD.loss_and_grad(theta)

    def grad(self, theta):
        self.calls["grad"] += 1
        return QUAD.grad(theta)

    def loss(self, theta):
        return QUAD.loss(theta)


def test_loss_is_computed_only_when_a_rule_needs_it():
    plain, growing = Counting(), Counting()
    a = run(plain, X0[[1]], GD(LR), stop=Stop(max_steps=5, grad_tol=0.0))
    b = run(growing, X0[[1]], GD(LR), stop=Stop(max_steps=5, grad_tol=0.0, loss_growth=10.0))
    assert plain.calls == {"loss_and_grad": 0, "grad": 6}
    assert growing.calls == {"loss_and_grad": 6, "grad": 0}
    assert a.loss.isnan().all() and torch.equal(a.theta, b.theta)


def test_grad_tol_none_runs_a_fixed_budget():
    """A row at an exact critical point is converged at once by grad_tol = 0 but runs its
    budget without a gradient test; loss_target and divergence still stop rows."""
    x = torch.stack([torch.zeros(3, dtype=DT), X0[1], X0[2]])
    at_zero = run(QUAD, x, GD(LR), stop=Stop(grad_tol=0.0, max_steps=40))
    assert at_zero.status_names()[0] == "converged" and int(at_zero.steps[0]) == 0
    fixed = run(QUAD, x, GD(LR), stop=Stop(grad_tol=None, max_steps=40, diverge=1e3))
    assert fixed.status_names() == ["max_steps", "max_steps", "diverged"]
    assert fixed.steps.tolist()[:2] == [40, 40]
    assert torch.equal(fixed.theta[0], torch.zeros(3, dtype=DT))
    target = run(QUAD, x[:2], GD(LR), stop=Stop(grad_tol=None, loss_target=1e-6, max_steps=40))
    assert target.status_names() == ["converged", "converged"]
    assert int(target.steps[0]) == 0 and 0 < int(target.steps[1]) < 40


@pytest.mark.parametrize("value", [0.5, 0.0, -2.0, math.nan, "10", True])
def test_loss_growth_refuses_bad_values(value: object) -> None:
    with pytest.raises(ValueError, match="^loss_growth must be") as err:
        Stop(loss_growth=value)
    msg = str(err.value)
    assert msg.endswith(f"got {value!r}.") and ". " not in msg, msg


def test_new_rules_are_stored_and_validated():
    stop = Stop(grad_tol=None, loss_growth=1.0)
    assert stop.columns()["stop_grad_tol"] is None
    assert stop.columns()["stop_loss_growth"] == 1.0
    assert Stop().loss_growth is None and Stop().columns()["stop_loss_growth"] is None
    with pytest.raises(ValueError, match="^grad_tol must be None or a finite number"):
        Stop(grad_tol=-1.0)


def test_observers_see_the_working_problem():
    """``View.problem`` is the problem the rows were evaluated on: restricted with them."""
    p = planted(3, 2, 2.0, 12, seeds=range(5))
    prob = OneHiddenRegression(p.X, p.y, p.v)
    theta0 = prob.init(5, generator=torch.Generator().manual_seed(0))
    seen = []

    def watch(view: View) -> None:
        rows = view.rows
        assert view.problem.X.shape[0] == rows.numel() == view.theta.shape[0]
        assert torch.equal(view.problem.X, p.X[rows]) and torch.equal(view.problem.y, p.y[rows])
        assert_close(view.problem.loss(view.theta), view.loss, what="loss on View.problem")
        seen.append((view.step, rows.numel(), view.problem is prob))

    stop = Stop(grad_tol=1e-6, loss_target=1e-3, max_steps=400)
    res = run(prob, theta0, GD(0.2), stop=stop, observers=[watch])
    sizes = [r for _, r, _ in seen]
    assert sizes[0] == 5 and min(sizes) < 5, "rows should leave the batch: " + str(res.steps)
    assert seen[0][2] and not seen[-1][2]  # the problem itself, then its restrictions
    shared = OneHiddenRegression(p.X[0], p.y[0], p.v[0])  # data shared: nothing to restrict
    probs = []
    run(shared, theta0, GD(0.2), stop=stop, observers=[lambda v: probs.append(v.problem)])
    assert all(q is shared for q in probs)
