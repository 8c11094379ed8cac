"""Batched Gauss-Newton for small least-squares problems, with a relative ridge and a box.

For F(theta) = |r(theta)|^2 / 2 with Jacobian J, every row takes the full step

    (J'J + lambda mean(diag J'J) I) delta = -J'r,   theta <- clip(theta + delta, lo, hi),

keeping each coordinate whose new value is not finite. No line search: the step is
always taken (this is the classic Gauss-Newton iteration, for problems with few
parameters per row and a good start, such as the magnitudes of a tensor initialization);
use ``LevenbergMarquardt`` where a decrease must be guaranteed. Steps counted:
iterations. The problem must have the ``Residuals`` capability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .driver import Eval, MethodBase, Step
from .lm import normal_equations, require_residuals

__all__ = ["GaussNewton"]


@dataclass(frozen=True)
class GaussNewton(MethodBase):
    """Gauss-Newton with a ridge relative to mean(diag(J'J)), projected onto a box.

    Attributes:
        ridge: lambda, relative to the mean diagonal of J'J (>= 0).
        lower: lower bound of every coordinate (None: unbounded).
        upper: upper bound of every coordinate (None: unbounded).
    """

    ridge: float = 1e-8
    lower: float | None = None
    upper: float | None = None
    name = "gauss_newton"
    needs_loss = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ridge) and self.ridge >= 0):
            raise ValueError(f"ridge must be a finite number >= 0, got {self.ridge!r}.")
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"need lower < upper, got {self.lower!r} and {self.upper!r}.")

    def init(self, problem, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        require_residuals(problem, "Gauss-Newton")
        return {}

    def evaluate(self, problem, theta, state, need_loss) -> Eval:
        _, loss, g, A = normal_equations(problem, theta)
        return Eval(loss, g, {"A": A})

    def update(self, problem, theta, loss, g, state) -> Step:
        A = state["A"]
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        A = A + self.ridge * torch.diagonal(A, dim1=1, dim2=2).mean(-1)[:, None, None] * eye
        step = torch.linalg.solve(A, -g[..., None])[..., 0]
        new = theta + step
        if self.lower is not None or self.upper is not None:
            new = new.clamp(self.lower, self.upper)
        return Step(torch.where(torch.isfinite(new), new, theta), {})
