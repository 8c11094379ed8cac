"""Tiny ``Problem``s with critical points known exactly, for the optimizers and certify.

Each is a scalar polynomial of one parameter row, batched with ``torch.func.vmap``; its
gradient and Hessian come from autograd, exact for polynomials up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch

__all__ = ["ToyProblem", "double_well", "flat_valley", "quartic_bowl"]


@dataclass(frozen=True, eq=False)
class ToyProblem:
    """The ``landscope.problems.Problem`` protocol for a function of one row."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    n_params: int
    global_min: float | None = None
    dtype: torch.dtype = torch.float64
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    symmetry: ClassVar[str | None] = None

    def _map(self, f: Callable, theta: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        if theta.shape[-1] != self.n_params or theta.dim() != 2:
            raise ValueError(f"theta has shape {tuple(theta.shape)}")
        return torch.func.vmap(f)(theta, *rest)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self._map(self.fn, theta)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self._map(torch.func.grad(self.fn), theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(theta), self.grad(theta)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        # reverse over reverse; see reference.relu_autograd.ReluReference.hessian
        return self._map(torch.func.jacrev(torch.func.jacrev(self.fn)), theta)

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (self.hessian(theta) @ v[..., None])[..., 0]

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        return torch.randn(R, self.n_params, generator=generator, dtype=self.dtype)

    def as_batch(self, theta: object) -> torch.Tensor:
        t = torch.as_tensor(theta, dtype=self.dtype)
        if t.dim() == 1:
            t = t[None]
        if t.dim() != 2 or t.shape[1] != self.n_params:
            raise ValueError(f"theta has shape {tuple(t.shape)}; expected (R, {self.n_params}).")
        return t


def _double_well(t: torch.Tensor) -> torch.Tensor:
    x, y = t[0], t[1]
    return 0.5 * x**2 - 0.5 * y**2 + 0.25 * y**4 + 0.25


def double_well(global_min: float | None = 0.0) -> ToyProblem:
    """f(x, y) = x^2/2 - y^2/2 + y^4/4 + 1/4.

    Critical points: global minima (0, +-1) with f = 0 and Hessian diag(1, 2); a saddle at
    the origin with f = 1/4 and Hessian diag(1, -1). ``global_min=None`` hides the optimal
    value from the problem.
    """
    return ToyProblem(_double_well, 2, global_min=global_min)


def _quartic_bowl(t: torch.Tensor) -> torch.Tensor:
    return (0.5 * t**2 + 0.25 * t**4).sum()


def quartic_bowl(P: int = 2) -> ToyProblem:
    """f = sum_p theta_p^2/2 + theta_p^4/4: one minimum, 0 at the origin.

    Gradient descent theta_p <- theta_p - lr (theta_p + theta_p^3) contracts where
    lr (1 + theta_p^2) < 2 near the origin and blows up from |theta_p| > sqrt(2/lr - 1)
    (there |update| exceeds |theta_p| and the next curvature is larger still).
    """
    return ToyProblem(_quartic_bowl, P, global_min=0.0)


def _flat_valley(t: torch.Tensor) -> torch.Tensor:
    return 1.0 + 0.5 * t[0] ** 2 + 0.25 * t[1] ** 4


def flat_valley() -> ToyProblem:
    """f(x, y) = 1 + x^2/2 + y^4/4, global value unknown to the problem (``None``).

    The origin is a critical point with Hessian diag(1, 0): the second-order test is
    inconclusive there.
    """
    return ToyProblem(_flat_valley, 2, global_min=None)
