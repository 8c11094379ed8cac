"""``GaussNewton`` under the driver against a plain per-row Gauss-Newton loop."""

from __future__ import annotations

import math

import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GaussNewton, Stop, run

DT = torch.float64


class _Exp:
    """r_j(theta) = sum_i exp(theta_i t_ij) - y_j per row: a small nonlinear least squares."""

    def __init__(self, t: torch.Tensor, y: torch.Tensor) -> None:
        self.t, self.y = t, y  # (R, m, k), (R, m)

    def select(self, rows: torch.Tensor) -> _Exp:
        return _Exp(self.t[rows], self.y[rows])

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.exp(theta[:, None, :] * self.t).sum(-1) - self.y

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = torch.exp(theta[:, None, :] * self.t)
        return e.sum(-1) - self.y, e * self.t


def _data(R: int, m: int = 12, k: int = 2):
    g = torch.Generator().manual_seed(0)
    t = torch.rand(R, m, k, generator=g, dtype=DT)
    truth = torch.rand(R, k, generator=g, dtype=DT) - 0.5
    return _Exp(t, torch.exp(truth[:, None, :] * t).sum(-1)), truth


def _loop(prob: _Exp, theta: torch.Tensor, steps: int, ridge: float, lo, hi) -> torch.Tensor:
    """Textbook Gauss-Newton on one row (1, k), written out."""
    for _ in range(steps):
        r, J = prob.residuals_and_jacobian(theta)
        A = J[0].T @ J[0]
        A = A + ridge * A.diagonal().mean() * torch.eye(A.shape[0], dtype=DT)
        new = theta[0] + torch.linalg.solve(A, -(J[0].T @ r[0]))
        if lo is not None or hi is not None:
            new = new.clamp(lo, hi)
        theta = torch.where(torch.isfinite(new), new, theta[0])[None]
    return theta


@pytest.mark.parametrize(("lo", "hi"), [(None, None), (-0.1, 0.1)])
def test_batched_equals_one_row_loops(lo, hi) -> None:
    prob, _ = _data(5)
    theta0 = torch.zeros(5, 2, dtype=DT)
    stop = Stop(grad_tol=None, max_steps=7, diverge=math.inf)
    res = run(prob, theta0, GaussNewton(ridge=1e-8, lower=lo, upper=hi), stop=stop)
    assert res.status_names() == ["max_steps"] * 5 and res.steps.tolist() == [7] * 5
    for r in range(5):
        ref = _loop(prob.select(torch.tensor([r])), theta0[r : r + 1], 7, 1e-8, lo, hi)
        # the same float64 operations on one row; only batched matmul order may differ
        assert_close(res.theta[r : r + 1], ref, rtol=1e-12, atol=1e-14, what=f"row {r}")
    if lo is not None:
        assert bool((res.theta >= lo).all() and (res.theta <= hi).all())


def test_zero_residual_fit_converges_to_the_truth() -> None:
    prob, truth = _data(4)
    res = run(prob, torch.zeros(4, 2, dtype=DT), GaussNewton(), stop=Stop(grad_tol=1e-13))
    assert res.status_names() == ["converged"] * 4
    # a zero-residual, well-conditioned fit: Gauss-Newton converges quadratically
    assert_close(res.theta, truth, rtol=1e-9, atol=1e-10, what="fitted parameters")


def test_bad_settings_and_problems() -> None:
    with pytest.raises(ValueError, match="ridge must be a finite number >= 0"):
        GaussNewton(ridge=-1.0)
    with pytest.raises(ValueError, match="need lower < upper"):
        GaussNewton(lower=1.0, upper=0.5)

    class NoResiduals:
        def loss(self, theta):
            return theta.sum(1)

    with pytest.raises(TypeError, match="Gauss-Newton needs a least-squares problem"):
        run(NoResiduals(), torch.zeros(2, 2, dtype=DT), GaussNewton())
