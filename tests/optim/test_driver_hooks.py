"""Driver hooks: a problem's own stopping norm (``StopNorm``) in place of ||grad||, kept
row by row through compaction, and the method state shown to observers (``View.state``)."""

from __future__ import annotations

import torch

from _tolerances import assert_close
from landscope.optim import GD, Adam, Stop, View, run
from landscope.problems import Quadratic
from landscope.problems.capabilities import RowData, StopNorm
from reference.one_row import run_alone

DT = torch.float64
QUAD = Quadratic(torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=DT)))
X0 = torch.tensor([[1.0, 1.0, 1.0], [2.0, -1.0, 0.5], [-3.0, 0.2, 0.1], [0.5, 0.5, -2.0]], dtype=DT)


class MaxNorm:
    """QUAD with the stopping norm w_r max_i |g_i| (per-row weights: rows own data)."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return QUAD.loss_and_grad(theta)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return QUAD.loss(theta)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return QUAD.grad(theta)

    def stop_norm(self, grad: torch.Tensor) -> torch.Tensor:
        assert grad.shape[0] == self.w.shape[0], "rows and weights out of step"
        return self.w * grad.abs().amax(dim=1)

    def select(self, rows: torch.Tensor) -> MaxNorm:
        return MaxNorm(self.w[rows])


def _gd_steps(x: torch.Tensor, lr: float, size, tol: float) -> int:
    """Plain GD loop on QUAD for one row until size(grad) <= tol: steps taken."""
    steps = 0
    while size(QUAD.grad(x[None])[0]) > tol:
        x = x - lr * QUAD.grad(x[None])[0]
        steps += 1
    return steps


def test_stop_norm_replaces_the_l2_norm():
    w = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=DT)
    prob = MaxNorm(w)
    assert isinstance(prob, StopNorm) and isinstance(prob, RowData)
    assert not isinstance(QUAD, StopNorm)
    tol, stop = 1e-6, Stop(grad_tol=1e-6, max_steps=10_000)
    res = run(prob, X0, GD(0.1), stop=stop)
    assert res.status_names() == ["converged"] * 4
    g = QUAD.grad(res.theta)
    assert_close(res.grad_norm, w * g.abs().amax(dim=1), what="recorded stopping norm")
    for r in range(4):  # each row stops at the first iterate whose own norm is <= tol
        steps = _gd_steps(X0[r], 0.1, lambda gr, r=r: float(w[r] * gr.abs().max()), tol)
        assert steps == int(res.steps[r]), f"row {r}"
    # the l2 norm of a row is at least its largest entry: unweighted rows take no fewer
    # steps with it, and row 2 (weight 1/2) takes more
    plain = run(QUAD, X0, GD(0.1), stop=stop)
    assert bool((plain.steps[[0, 2, 3]] >= res.steps[[0, 2, 3]]).all())
    assert int(plain.steps[2]) > int(res.steps[2])
    assert len(set(res.steps.tolist())) > 1  # rows left the batch: select kept the weights
    alone = run_alone(prob, X0, GD(0.1), stop, row_problem=lambda r: MaxNorm(w[r : r + 1]))
    assert alone.steps.tolist() == res.steps.tolist()
    assert_close(alone.theta, res.theta, what="one row at a time")


def test_stop_norm_decides_divergence():
    # a row whose stopping norm exceeds Stop.diverge is diverged, though ||grad|| is small
    prob = MaxNorm(torch.tensor([1.0, 1e15], dtype=DT))
    res = run(prob, X0[:2], GD(0.1), stop=Stop(grad_tol=1e-6, max_steps=1000))
    assert res.status_names() == ["converged", "diverged"]
    assert int(res.steps[1]) == 0 and float(res.grad_norm[1]) == float("inf")


def test_observers_see_the_method_state():
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def watch(view: View) -> None:
        m, v, t = view.state  # Adam's per-row state, rows of the working batch
        assert m.shape == view.theta.shape and t.shape == view.rows.shape
        seen.append((view.steps.clone(), t.clone()))

    res = run(QUAD, X0, Adam(lr=0.05), stop=Stop(grad_tol=1e-6, max_steps=60), observers=[watch])
    assert len(seen) == 61
    for steps, t in seen:  # Adam counts its own steps: the same as the driver's
        assert_close(t, steps.to(DT), rtol=0, atol=0, what="Adam's step counter")
    assert res.steps.tolist() == [60] * 4
