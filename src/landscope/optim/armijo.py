"""Gradient descent with a per-row backtracking (Armijo) step size, as a driver method.

Each row keeps its own step length t: a step theta - t g is accepted when
F(theta - t g) <= F(theta) - c1 t |g|^2, otherwise t is halved (every pending row in
one batched loss call); after an accepted step t grows by ``grow``, so a row's step
tracks 1 / (local curvature) without a hand-tuned learning rate. This is still plain
gradient descent (direction -g); only the length is chosen per row. A row for which no
decrease is found in ``max_backtracks`` halvings is reported stuck (status ``max_steps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._linesearch import armijo_accepts
from .driver import MethodBase, Step, restrict

__all__ = ["Armijo"]


@dataclass(frozen=True)
class Armijo(MethodBase):
    """Per-row backtracking gradient descent (steps counted: accepted steps).

    Attributes:
        lr0: first trial step of every row.
        grow: factor applied to a row's step after each accepted step (>= 1).
        c1: Armijo constant in (0, 1).
        max_backtracks: halvings tried before a row is stuck.
    """

    lr0: float = 1.0
    grow: float = 1.5
    c1: float = 1e-4
    max_backtracks: int = 40
    name = "armijo"
    needs_loss = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr0) and self.lr0 > 0) or not (self.grow >= 1):
            raise ValueError(f"need lr0 > 0 and grow >= 1, got {self.lr0!r} and {self.grow!r}.")
        if not 0 < self.c1 < 1:
            raise ValueError(f"c1 must be in (0, 1), got {self.c1!r}.")
        if self.max_backtracks < 1:
            raise ValueError(f"max_backtracks must be >= 1, got {self.max_backtracks!r}.")

    def init(self, problem, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "t": torch.full((theta.shape[0],), self.lr0, dtype=theta.dtype, device=theta.device)
        }

    def update(self, problem, theta, loss, g, state) -> Step:
        t = state["t"]
        gg = (g * g).sum(1)
        # first trial on every active row at once (most rows accept it) ...
        trial = theta - t[:, None] * g
        lt = problem.loss(trial)
        accepted = armijo_accepts(lt, loss, t, -gg, trial, theta, self.c1)
        new_theta = torch.where(accepted[:, None], trial, theta)
        t = torch.where(accepted, t, 0.5 * t)
        # ... then halvings for the rows that did not, each batched over those rows
        for _ in range(self.max_backtracks - 1):
            if bool(accepted.all()):
                break
            pend = torch.nonzero(~accepted).flatten()
            trial = theta[pend] - t[pend, None] * g[pend]
            lt = restrict(problem, pend).loss(trial)
            ok = armijo_accepts(lt, loss[pend], t[pend], -gg[pend], trial, theta[pend], self.c1)
            sel = pend[ok]
            new_theta[sel] = trial[ok]
            accepted[sel] = True
            t[pend[~ok]] *= 0.5
        t = torch.where(accepted, t * self.grow, t)
        return Step(new_theta, {"t": t}, accepted=accepted, stuck=~accepted)
