"""Gradient descent that tracks gradient flow: each row's step a fraction of its sharpness.

``SharpnessGD(frac, every)`` steps theta <- theta - eta_r grad with, for each row r, eta_r =
``frac`` / lambda_max(J_r J_r') recomputed every ``every`` updates, J_r the Jacobian of
the row's residuals (a least-squares problem, ``Residuals``): lambda_max of the
Gauss-Newton matrix J'J, the Hessian's largest eigenvalue at an interpolant. GD with a
fixed step is the Euler scheme of gradient flow only while eta lambda_max stays well below
2; a network whose sharpness grows during training (the adaptive regime of a univariate
ReLU net: 5 -> 70 over flow time 120) drives a fixed-step GD to the edge of stability
(eta lambda_max ~ 2) and off the flow, which re-setting the step keeps it from.

The state holds each row's step, its update count and the flow time it has covered (the
sum of its steps); an observer reads the flow time of a finished row from ``View.state``
(``flow_time(state)``).
"""

from __future__ import annotations

import math

import torch

from ..problems import Problem, Residuals
from .driver import Eval, MethodBase, State, Step

__all__ = ["SharpnessGD", "flow_time"]


def flow_time(state: State) -> torch.Tensor:
    """The flow time (sum of the steps) of each row of a ``SharpnessGD`` state: (R,)."""
    return state[2]


class SharpnessGD(MethodBase):
    """GD with each row's step ``frac`` / lambda_max(J J') set afresh every ``every`` updates.

    Args:
        frac: eta lambda_max, in (0, 2) (stable for the quadratic model); the smaller, the
            closer to gradient flow (the local error of one step is O(frac^2)).
        every: updates between recomputations of the step (1: every update).

    Raises:
        ValueError: frac outside (0, 2), every not a positive integer; ``TypeError`` at
            ``init`` for a problem without residuals.
    """

    name = "sharpness-gd"
    needs_loss = False

    def __init__(self, frac: float = 1.0, every: int = 1) -> None:
        ok = isinstance(frac, (int, float)) and not isinstance(frac, bool)
        if not (ok and math.isfinite(frac) and 0 < frac < 2):
            raise ValueError(f"frac must be a number in (0, 2), got {frac!r}.")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}.")
        self.frac, self.every = float(frac), every

    def init(self, problem: Problem, theta: torch.Tensor) -> State:
        if not isinstance(problem, Residuals):
            raise TypeError(
                f"SharpnessGD needs a least-squares problem (residuals and their Jacobian); "
                f"{type(problem).__name__} has none."
            )
        R = theta.shape[0]
        z = torch.zeros(R, dtype=theta.dtype, device=theta.device)
        return (z, z.clone(), z.clone())  # step, updates so far, flow time

    def evaluate(
        self, problem: Problem, theta: torch.Tensor, state: State, need_loss: bool
    ) -> Eval:
        eta, count, time = state
        due = torch.remainder(count, self.every) == 0
        if not bool(due.any()):  # the plain gradient: no Jacobian between re-settings
            return super().evaluate(problem, theta, state, need_loss)
        r, J = problem.residuals_and_jacobian(theta)
        grad = (J.transpose(1, 2) @ r[..., None])[..., 0]
        Jd = J[due]
        small = Jd @ Jd.transpose(1, 2) if Jd.shape[1] <= Jd.shape[2] else (
            Jd.transpose(1, 2) @ Jd)  # fmt: skip
        top = torch.linalg.eigvalsh(small)[:, -1]
        eta = eta.clone()
        eta[due] = self.frac / top.clamp_min(torch.finfo(top.dtype).tiny)
        return Eval(0.5 * (r * r).sum(1), grad, (eta, count, time))

    def update(self, problem, theta, loss, grad, state) -> Step:
        eta, count, time = state
        return Step(theta - eta[:, None] * grad, (eta, count + 1, time + eta))
