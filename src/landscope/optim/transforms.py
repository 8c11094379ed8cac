"""Batched first-order optimizers as pure ``init``/``update`` pairs (optax-style).

State is a tuple of tensors whose first dimension is the run (row) index, so the
driver can gather the active rows of the state exactly as it gathers parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["GD", "Adam", "Optimizer"]

State = tuple[torch.Tensor, ...]


class Optimizer:
    """Protocol: ``init(theta) -> state``; ``update(grad, state) -> (step, state)``.

    ``theta_next = theta + step``. Every state tensor has the run index first.
    """

    def init(self, theta: torch.Tensor) -> State:  # pragma: no cover - protocol
        raise NotImplementedError

    def update(
        self, grad: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:  # pragma: no cover
        raise NotImplementedError


def _check_lr(lr: float) -> None:
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a positive number, got {lr!r}.")


@dataclass(frozen=True)
class GD(Optimizer):
    """Plain gradient descent, theta <- theta - lr * grad."""

    lr: float

    def __post_init__(self) -> None:
        _check_lr(self.lr)

    def init(self, theta: torch.Tensor) -> State:
        return ()

    def update(self, grad: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return -self.lr * grad, state


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and a per-row step counter."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        for name in ("beta1", "beta2"):
            b = getattr(self, name)
            if not 0 <= b < 1:
                raise ValueError(f"{name} must be in [0, 1), got {b!r}.")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be a positive number, got {self.eps!r}.")

    def init(self, theta: torch.Tensor) -> State:
        z = torch.zeros_like(theta)
        return z, z.clone(), torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)

    def update(self, grad: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        m, v, t = state
        t = t + 1
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        mhat = m / (1 - self.beta1**t)[:, None]
        vhat = v / (1 - self.beta2**t)[:, None]
        return -self.lr * mhat / (vhat.sqrt() + self.eps), (m, v, t)
