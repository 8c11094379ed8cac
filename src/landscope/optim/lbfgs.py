"""Batched L-BFGS over (R, P) rows with a per-row backtracking (Armijo) line search.

Every row keeps its own curvature pairs (s, y) and its own step length; all rows move in
one vectorized computation under the driver (``run``), which drops finished rows. The
direction is the classic two-loop recursion (Nocedal & Wright, Algorithm 7.4) with the
initial scaling gamma = s'y / y'y of the newest pair; a pair is stored only when
s'y > 1e-12 |s| |y| (curvature condition), so the implicit inverse Hessian stays
positive definite and every direction is a descent direction. The step starts at 1 and
is halved until F(theta + t d) <= F(theta) + c1 t g'd.

Like gradient descent, L-BFGS is a local descent method: it ends at local minima or, on
a measure-zero set of starts, at saddles; it reaches a critical point in far fewer steps
on ill-conditioned problems such as quadratic networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._linesearch import armijo_accepts
from .driver import MethodBase, Step, restrict

__all__ = ["LBFGS"]


def _two_loop(g: torch.Tensor, S: torch.Tensor, Y: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """-H g for every row; S, Y (R, m, P) newest first, rho (R, m) (0 marks an empty slot)."""
    q = g.clone()
    m = S.shape[1]
    alpha = torch.zeros_like(rho)
    for i in range(m):  # newest to oldest; m is the memory (~10), not the batch
        alpha[:, i] = rho[:, i] * (S[:, i] * q).sum(1)
        q = q - alpha[:, i, None] * Y[:, i]
    sy = (S[:, 0] * Y[:, 0]).sum(1)
    yy = (Y[:, 0] * Y[:, 0]).sum(1)
    gamma = torch.where(rho[:, 0] > 0, sy / yy.clamp_min(torch.finfo(g.dtype).tiny), 1.0)
    r = gamma[:, None] * q
    for i in reversed(range(m)):
        beta = rho[:, i] * (Y[:, i] * r).sum(1)
        r = r + (alpha[:, i] - beta)[:, None] * S[:, i]
    return -r


@dataclass(frozen=True)
class LBFGS(MethodBase):
    """Batched L-BFGS with a per-row Armijo backtracking line search.

    Attributes:
        memory: curvature pairs kept per row.
        c1: Armijo constant.
        max_backtracks: halvings of the step before a row is stuck (reported
            ``max_steps``: no decrease of F could be found, which is also how a row ends
            whose gradient is below what F's rounding can resolve, about
            sqrt(lambda_max * eps * |F|)).
        max_step_norm: if given, directions longer than this are scaled down to it
            (guards the first iterations on problems with a large gradient).

    The pair (s, y) of a step is stored at the next iteration, once the driver has
    evaluated the gradient there.
    """

    memory: int = 10
    c1: float = 1e-4
    max_backtracks: int = 40
    max_step_norm: float | None = None
    name = "lbfgs"
    needs_loss = True

    def __post_init__(self) -> None:
        if self.memory < 1 or self.max_backtracks < 1:
            raise ValueError("memory and max_backtracks must be >= 1.")
        if not 0 < self.c1 < 1:
            raise ValueError(f"c1 must be in (0, 1), got {self.c1!r}.")

    def init(self, problem, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        R, P = theta.shape
        S = torch.zeros(R, self.memory, P, dtype=theta.dtype, device=theta.device)
        return {
            "S": S,
            "Y": torch.zeros_like(S),
            "rho": torch.zeros(R, self.memory, dtype=theta.dtype, device=theta.device),
            "prev_theta": theta.clone(),
            "prev_g": torch.zeros_like(theta),
            "prev_ok": torch.zeros(R, dtype=torch.bool, device=theta.device),
        }

    def update(self, problem, theta, loss, g, state) -> Step:
        S, Y, rho = state["S"], state["Y"], state["rho"]
        # the pair of the previous step, now that the gradient at its end is known
        s_vec, y_vec = theta - state["prev_theta"], g - state["prev_g"]
        sy = (s_vec * y_vec).sum(1)
        good = state["prev_ok"] & (
            sy
            > 1e-12
            * torch.linalg.vector_norm(s_vec, dim=1)
            * torch.linalg.vector_norm(y_vec, dim=1)
        )
        if bool(good.any()):
            # newest pair first: rows with a good pair shift their memory by one
            S = torch.where(good[:, None, None], torch.roll(S, 1, dims=1), S)
            Y = torch.where(good[:, None, None], torch.roll(Y, 1, dims=1), Y)
            rho = torch.where(good[:, None], torch.roll(rho, 1, dims=1), rho)
            S[good, 0], Y[good, 0] = s_vec[good], y_vec[good]
            rho[good, 0] = 1.0 / sy[good]
        d = _two_loop(g, S, Y, rho)
        slope = (g * d).sum(1)
        bad = ~(slope < 0) | ~torch.isfinite(slope)  # safeguard: fall back to -g
        d = torch.where(bad[:, None], -g, d)
        slope = torch.where(bad, -(g * g).sum(1), slope)
        if self.max_step_norm is not None:
            dn = torch.linalg.vector_norm(d, dim=1)
            scale = torch.clamp(self.max_step_norm / dn.clamp_min(1e-300), max=1.0)
            d, slope = d * scale[:, None], slope * scale
        t = torch.ones_like(loss)
        accepted = torch.zeros(theta.shape[0], dtype=torch.bool, device=theta.device)
        new_theta, new_loss = theta.clone(), loss.clone()
        for _ in range(self.max_backtracks):  # halvings, each batched over pending rows
            pend = torch.nonzero(~accepted).flatten()
            if pend.numel() == 0:
                break
            trial = theta[pend] + t[pend, None] * d[pend]
            lt = restrict(problem, pend).loss(trial)
            ok = armijo_accepts(lt, loss[pend], t[pend], slope[pend], trial, theta[pend], self.c1)
            sel = pend[ok]
            new_theta[sel], new_loss[sel] = trial[ok], lt[ok]
            accepted[sel] = True
            t[pend[~ok]] *= 0.5
        state = {"S": S, "Y": Y, "rho": rho, "prev_theta": theta, "prev_g": g, "prev_ok": accepted}
        return Step(new_theta, state, accepted=accepted, stuck=~accepted, loss=new_loss)
