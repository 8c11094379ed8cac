"""Batched Levenberg-Marquardt: one batch against one-row runs, linear least squares
against numpy's lstsq, Rosenbrock against its known minimum, zero-residual degenerate
minima of an over-parameterized network, descent, divergence, and argument checks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.optim import LevenbergMarquardt, RunResult, Stop, run
from landscope.problems import init_from_seeds
from landscope.problems.deep_quadratic import DeepQuadraticNet, planted_targets
from reference.one_row import run_alone

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class LinearLS:
    """r(x) = A x - b: F = |A x - b|^2 / 2."""

    A: torch.Tensor
    b: torch.Tensor

    @property
    def n_params(self) -> int:
        return self.A.shape[1]

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        return theta @ self.A.T - self.b

    def residuals_and_jacobian(self, theta: torch.Tensor):
        return self.residuals(theta), self.A.expand(theta.shape[0], *self.A.shape)


@dataclass(frozen=True)
class RosenbrockLS:
    """r(x) = (10 (x2 - x1^2), 1 - x1): F = Rosenbrock / 2, minimum at (1, 1), F = 0."""

    n_params: int = 2

    def residuals(self, t: torch.Tensor) -> torch.Tensor:
        return torch.stack([10 * (t[:, 1] - t[:, 0] ** 2), 1 - t[:, 0]], dim=1)

    def residuals_and_jacobian(self, t: torch.Tensor):
        R = t.shape[0]
        J = torch.zeros(R, 2, 2, dtype=t.dtype)
        J[:, 0, 0], J[:, 0, 1], J[:, 1, 0] = -20 * t[:, 0], 10.0, -1.0
        return self.residuals(t), J


LM = LevenbergMarquardt()


def _lm(problem, theta0: torch.Tensor, grad_tol: float, max_steps: int = 500) -> RunResult:
    """Levenberg-Marquardt to ||grad|| <= grad_tol (500 iterations unless told)."""
    return run(problem, theta0, LM, stop=Stop(grad_tol=grad_tol, max_steps=max_steps))


def test_consistent_linear_system_is_solved_to_rounding() -> None:
    A = torch.randn(30, 6, generator=_gen(0), dtype=DT)
    x_true = torch.randn(6, generator=_gen(1), dtype=DT)
    theta0 = 3 * torch.randn(5, 6, generator=_gen(2), dtype=DT)
    res = _lm(LinearLS(A, A @ x_true), theta0, 1e-12)
    assert res.status_names() == ["converged"] * 5
    # zero residual at x_true; sigma_min(A)^2 ~ 10: |x - x*| <= 1e-12 / 10
    assert_close(res.theta, x_true.expand(5, 6), rtol=0, atol=1e-12, what="solution")


def test_inconsistent_linear_least_squares_reaches_lstsq() -> None:
    A = torch.randn(30, 6, generator=_gen(0), dtype=DT)
    b = torch.randn(30, generator=_gen(1), dtype=DT)
    theta0 = 3 * torch.randn(5, 6, generator=_gen(2), dtype=DT)
    # |r|^2 ~ 20 at the optimum: gains below ~eps |r|^2 are rounding, so gradients below
    # ~sqrt(lambda_max(A'A) eps |r|^2) ~ 5e-7 cannot be verified (one row stops at 3e-8,
    # the others reach 1e-12 by exact Gauss-Newton steps); tol 1e-5 is above that floor
    res = _lm(LinearLS(A, b), theta0, 1e-5)
    assert res.status_names() == ["converged"] * 5
    x = np.linalg.lstsq(A.numpy(), b.numpy(), rcond=None)[0]
    # |x - x*| <= |grad| / sigma_min(A)^2, sigma_min^2 ~ 10
    assert_close(res.theta, np.broadcast_to(x, (5, 6)), rtol=0, atol=1e-6, what="argmin")


def test_rosenbrock_reaches_its_minimum_and_batch_equals_rows() -> None:
    prob = RosenbrockLS()
    theta0 = torch.tensor([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [-2.0, 3.0]], dtype=DT)
    res = _lm(prob, theta0, 1e-12, max_steps=500)
    assert res.status_names() == ["converged"] * 4
    # the Jacobian at (1, 1) is invertible (sigma_min ~ 0.45): |x - 1| <~ 1e-12 / 0.2
    assert_close(res.theta, torch.ones(4, 2, dtype=DT), rtol=0, atol=1e-10, what="argmin")
    # rows do not interact: one batch equals four one-row runs step for step
    alone = run_alone(prob, theta0, LM, res.stop)
    assert torch.equal(res.steps, alone.steps)
    assert_close(res.theta, alone.theta, what="batched vs one row")


def test_every_accepted_step_lowers_the_loss() -> None:
    losses = []

    class Spy(RosenbrockLS):
        def residuals_and_jacobian(self, t):
            r, J = super().residuals_and_jacobian(t)
            losses.append(float(0.5 * (r * r).sum()))
            return r, J

    _lm(Spy(), torch.tensor([[-1.2, 1.0]], dtype=DT), 1e-12)
    assert len(losses) > 5
    assert all(b <= a for a, b in pairwise(losses))


def test_zero_residual_degenerate_minima_are_reached() -> None:
    # a student twice as wide as its teacher: the zero-loss minima are not isolated
    # (J'J is singular there), which is where damping matters
    X = torch.randn(60, 3, generator=_gen(3), dtype=DT)
    y, _ = planted_targets(X, (2, 2), _gen(4))
    prob = DeepQuadraticNet(X, y, widths=(4, 4))
    res = _lm(prob, init_from_seeds(prob, range(6)), 1e-10, max_steps=400)
    L0 = 0.5 * float((y * y).mean())
    gap = prob.loss(res.theta) / L0
    assert int((gap < 1e-18).sum()) >= 5  # measured: 6 of 6 below 1e-20


def test_non_finite_rows_are_reported_diverged_and_others_go_on() -> None:
    prob = RosenbrockLS()
    theta0 = torch.tensor([[-1.2, 1.0], [math.nan, 0.0]], dtype=DT)
    res = _lm(prob, theta0, 1e-12)
    assert res.status_names() == ["converged", "diverged"]
    assert math.isinf(float(res.grad_norm[1]))


def test_step_budget_is_respected() -> None:
    res = _lm(RosenbrockLS(), torch.tensor([[-1.2, 1.0]], dtype=DT), 0.0, max_steps=3)
    assert res.status_names() == ["max_steps"] and int(res.steps[0]) == 3


@pytest.mark.parametrize("kw", [{"grad_tol": -1.0}, {"grad_tol": math.nan}, {"max_steps": -1}])
def test_bad_stopping_rule_is_refused(kw: dict) -> None:
    with pytest.raises(ValueError, match=f"^{next(iter(kw))} must be"):
        Stop(**kw)


@pytest.mark.parametrize("mu0", [0.0, -1.0, math.inf, math.nan])
def test_bad_damping_is_refused(mu0: float) -> None:
    msg = f"mu0 must be a positive number, got {mu0!r}."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        LevenbergMarquardt(mu0=mu0)


def test_problem_without_residuals_is_refused() -> None:
    class LossOnly:
        n_params = 2

        def loss_and_grad(self, theta):
            return 0.5 * theta.square().sum(1), theta

    with pytest.raises(TypeError, match="LossOnly has no residuals and Jacobian"):
        run(LossOnly(), torch.zeros(1, 2, dtype=DT), LM)


@dataclass(frozen=True)
class PrimalOnly:
    """A least-squares problem's residuals and full Jacobian, without its factors."""

    inner: DeepQuadraticNet

    def residuals(self, t: torch.Tensor) -> torch.Tensor:
        return self.inner.residuals(t)

    def residuals_and_jacobian(self, t: torch.Tensor):
        return self.inner.residuals_and_jacobian(t)


def _wide_student() -> tuple[DeepQuadraticNet, torch.Tensor]:
    # P = 3 x 5 + 5 x 5 + 5 = 45 parameters on m = 14 samples: the m x m form applies
    X = torch.randn(14, 3, generator=_gen(5), dtype=DT)
    y, _ = planted_targets(X, (2, 2), _gen(6))
    prob = DeepQuadraticNet(X, y, widths=(5, 5))
    assert prob.n_params == 45 and X.shape[0] < prob.n_params
    return prob, init_from_seeds(prob, range(5))


def test_dual_form_takes_the_primal_steps() -> None:
    prob, theta0 = _wide_student()
    stop = Stop(grad_tol=0.0, max_steps=4)
    dual = run(prob, theta0, LM, stop=stop)
    primal = run(PrimalOnly(prob), theta0, LM, stop=stop)
    assert dual.steps.tolist() == primal.steps.tolist() == [4] * 5
    # the same step from (K + mu I) alpha = r and (J'J + mu I) delta = -J'r: rounding
    # amplified by the damped systems' condition (<= ~1e4 while mu >= 1e-4 max diag J'J)
    assert_close(dual.theta, primal.theta, rtol=1e-9, atol=1e-11, what="dual vs primal LM")
    assert_close(dual.loss, primal.loss, rtol=1e-9, atol=1e-14, what="losses")


def test_dual_form_runs_like_the_primal_without_building_the_jacobian(monkeypatch) -> None:
    prob, theta0 = _wide_student()
    stop = Stop(grad_tol=1e-12, max_steps=300)
    primal = run(PrimalOnly(prob), theta0, LM, stop=stop)

    def refuse(*a, **kw):
        raise AssertionError("the m x m form must not build J")

    monkeypatch.setattr(DeepQuadraticNet, "residuals_and_jacobian", refuse)
    dual = run(prob, theta0, LM, stop=stop)
    # measured: 4 of 5 rows creep into degenerate zero-loss minima (loss / L0 1e-19 to
    # 3e-6 after 300 iterations) and one converges, on either form alike
    assert dual.status_names() == primal.status_names()
    assert "converged" in dual.status_names() and dual.steps.tolist() == primal.steps.tolist()
    # 300 iterations apart: rounding grows through the nearly singular damped systems
    # (measured 2e-6 relative), far below the spread between rows
    assert_close(dual.loss, primal.loss, rtol=1e-3, atol=1e-30, what="losses after 300")
    L0 = 0.5 * float((prob.y**2).mean())
    assert float(dual.loss[dual.status == 1].max()) / L0 < 1e-20
