"""Gradient descent on a sampled gradient: Dropout SGD, and any problem that can draw one.

``SampledGD(lr, generator)`` steps theta <- theta - lr g, with (loss, g) =
``problem.sample_loss_and_grad(theta, generator)``: an unbiased draw of the loss and
gradient (for ``DropoutLinear``, fresh masks per sample and row). Under ``run`` the
driver keeps stopping, compaction and the record as for any method; its gradient-norm
test sees the sampled gradient, so a run with a fixed budget uses ``grad_tol=None``.
"""

from __future__ import annotations

import math

import torch

from ..problems import Problem
from .driver import Eval, MethodBase, State, Step

__all__ = ["SampledGD"]


class SampledGD(MethodBase):
    """theta <- theta - lr * (a sampled gradient), one draw per iteration for all rows.

    Args:
        lr: the step, a positive number.
        generator: draws the samples (on the CPU); None: torch's default generator.

    Raises:
        ValueError: for a step that is not a positive number; ``TypeError`` at ``init``
            for a problem that cannot sample its gradient.
    """

    name = "sampled-gd"
    needs_loss = False

    def __init__(self, lr: float, generator: torch.Generator | None = None) -> None:
        ok = isinstance(lr, (int, float)) and not isinstance(lr, bool)
        if not (ok and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}.")
        self.lr, self.generator = float(lr), generator

    def init(self, problem: Problem, theta: torch.Tensor) -> State:
        if not callable(getattr(problem, "sample_loss_and_grad", None)):
            raise TypeError(
                f"SampledGD needs a problem that samples its gradient "
                f"(sample_loss_and_grad); {type(problem).__name__} has none."
            )
        return ()

    def evaluate(
        self, problem: Problem, theta: torch.Tensor, state: State, need_loss: bool
    ) -> Eval:
        loss, grad = problem.sample_loss_and_grad(theta, self.generator)
        return Eval(loss if need_loss else None, grad, state)

    def update(self, problem, theta, loss, grad, state) -> Step:
        return Step(theta - self.lr * grad, state)
