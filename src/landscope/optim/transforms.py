"""Batched first-order optimizers as pure ``init``/``update`` pairs (optax-style).

State is a tuple of tensors whose first dimension is the run (row) index, so the
driver can gather the active rows of the state exactly as it gathers parameters.

Learning-rate schedules, the optax way (``optax.scale_by_schedule``): ``GD`` and ``Adam``
take an optional ``schedule``, a callable of each row's update count (0 at the first
update, counted per row, so rows compacted out of the batch and back keep their own),
returning a factor of ``lr``: update k of a row uses the step size lr * schedule(k).
``cosine_decay(total_steps)`` is cosine annealing to zero. Without a schedule the
updates are exactly those of the plain optimizers (no extra tensor operation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["GD", "Adam", "Optimizer", "Schedule", "cosine_decay"]

State = tuple[torch.Tensor, ...]


class Schedule(Protocol):
    """A learning-rate factor per row: ``schedule(count (R,)) -> (R,)``.

    ``count`` holds, for each row, the updates it has taken before this one (0.0 at its
    first update), in the parameters' dtype and device; the step size of the update is
    ``lr * schedule(count)``.
    """

    def __call__(self, count: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class _CosineDecay:
    total_steps: int

    def __call__(self, count: torch.Tensor) -> torch.Tensor:
        # (1 + cos(pi t / T)) / 2 in the order torch's closed form writes it: the factors
        # then agree with CosineAnnealingLR's lr / base lr to ~1e-15 (its recursive
        # update drifts from the closed form by rounding only)
        t = count.clamp(max=self.total_steps)
        return (1 + torch.cos(math.pi * t / self.total_steps)) / 2


def cosine_decay(total_steps: int) -> Schedule:
    """Cosine annealing of the learning rate to zero over ``total_steps`` updates.

    Update k (k = 0, 1, ...) of a row uses the factor (1 + cos(pi min(k, T) / T)) / 2,
    T = ``total_steps`` (Loshchilov & Hutter, SGDR, ICLR 2017, without restarts): 1 at
    the first update, 0 from update T on. For k < T this is, step for step,
    ``torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=0)`` stepped once
    after every ``opt.step()`` (agreement to ~1e-15 relative, the rounding of torch's
    recursive form; tested). Past T torch's scheduler rises again (a cosine of period 2T);
    this one stays at 0, as optax's ``cosine_decay_schedule`` does.

    Raises:
        ValueError: if ``total_steps`` is not a positive integer.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}.")
    return _CosineDecay(total_steps)


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


def _check_schedule(schedule: object) -> None:
    if schedule is not None and not callable(schedule):
        raise ValueError(
            f"schedule must be None or a callable of the update count, got {schedule!r}."
        )


@dataclass(frozen=True)
class GD(Optimizer):
    """Plain gradient descent, theta <- theta - lr * grad.

    With a ``schedule`` (see ``Schedule``), update k of a row is
    theta <- theta - lr schedule(k) grad, and the state holds each row's count k.
    """

    lr: float
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        _check_schedule(self.schedule)

    def init(self, theta: torch.Tensor) -> State:
        if self.schedule is None:
            return ()
        return (torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device),)

    def update(self, grad: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if self.schedule is None:
            return -self.lr * grad, state
        (count,) = state
        lr = self.lr * self.schedule(count)
        return -lr[:, None] * grad, (count + 1,)


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and a per-row step counter.

    With a ``schedule`` (see ``Schedule``), the t-th update of a row (t = 1, 2, ...) has
    step size lr schedule(t - 1), the same counter as the bias correction's.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        _check_schedule(self.schedule)
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
        lr = self.lr if self.schedule is None else (self.lr * self.schedule(t))[:, None]
        t = t + 1
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        mhat = m / (1 - self.beta1**t)[:, None]
        vhat = v / (1 - self.beta2**t)[:, None]
        return -lr * mhat / (vhat.sqrt() + self.eps), (m, v, t)
