"""Batched L-BFGS over (R, P) rows with a per-row backtracking (Armijo) line search.

Every row keeps its own curvature pairs (s, y) and its own step length; all rows move in
one vectorized computation, and rows that converge or diverge leave the working batch
(as in ``minimize``). The direction is the classic two-loop recursion (Nocedal & Wright,
Algorithm 7.4) with the initial scaling gamma = s'y / y'y of the newest pair; a pair is
stored only when s'y > 1e-12 |s| |y| (curvature condition), so the implicit inverse
Hessian stays positive definite and every direction is a descent direction. The step
starts at 1 and is halved until F(theta + t d) <= F(theta) + c1 t g'd.

Like gradient descent, L-BFGS is a local descent method: it ends at local minima or, on
a measure-zero set of starts, at saddles; it reaches a critical point in far fewer steps
on ill-conditioned problems such as quadratic networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..problems import Problem
from ._linesearch import armijo_accepts
from .minimize import MinimizeResult, _Outcomes

__all__ = ["lbfgs"]


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


def lbfgs(
    problem: Problem,
    theta0: torch.Tensor,
    *,
    tol: float = 1e-9,
    max_steps: int = 10_000,
    memory: int = 10,
    c1: float = 1e-4,
    max_backtracks: int = 40,
    max_step_norm: float | None = None,
    diverge_grad: float = 1e12,
    callback: Callable[[int, int], None] | None = None,
) -> MinimizeResult:
    """Run batched L-BFGS on every row until ||grad|| <= tol, divergence or ``max_steps``.

    Args:
        problem: supplies ``loss`` and ``loss_and_grad`` on an (R', P) batch.
        theta0: (R, P) starting rows.
        tol: gradient-norm tolerance.
        max_steps: iterations per row.
        memory: curvature pairs kept per row.
        c1: Armijo constant.
        max_backtracks: halvings of the step before a row gives up (it is then reported
            ``max_steps``: no decrease of F could be found, which is also how a row ends
            whose gradient is below what F's rounding can resolve, about
            sqrt(lambda_max * eps * |F|)).
        max_step_norm: if given, directions longer than this are scaled down to it
            (guards the first iterations on problems with a large gradient).
        diverge_grad: a gradient norm above this counts as diverged.
        callback: called as ``callback(step, active_rows)`` when rows leave the batch.

    Returns:
        MinimizeResult, one entry per row (status 1 converged, 2 max_steps, 3 diverged).
    """
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")
    if max_steps < 0 or memory < 1 or max_backtracks < 1:
        raise ValueError("max_steps must be >= 0, memory and max_backtracks >= 1.")
    if not 0 < c1 < 1:
        raise ValueError(f"c1 must be in (0, 1), got {c1!r}.")
    R, P = theta0.shape
    dev, dt = theta0.device, theta0.dtype
    out = _Outcomes(theta0)

    idx = torch.arange(R, device=dev)
    theta = theta0.clone()
    loss, g = problem.loss_and_grad(theta)
    S = torch.zeros(R, memory, P, dtype=dt, device=dev)
    Y = torch.zeros_like(S)
    rho = torch.zeros(R, memory, dtype=dt, device=dev)
    steps = torch.zeros(R, dtype=torch.long, device=dev)
    stuck = torch.zeros(R, dtype=torch.bool, device=dev)
    step = 0
    while idx.numel() > 0:
        gn = torch.linalg.vector_norm(g, dim=1)
        finite = (gn <= diverge_grad) & torch.isfinite(loss)
        conv = finite & (gn <= tol)
        div = ~finite
        cap = ~conv & ~div & ((steps >= max_steps) | stuck)
        fin = conv | div | cap
        if bool(fin.any()):
            out.record(idx[fin], theta[fin], gn[fin], steps[fin], div[fin], cap[fin])
            keep = ~fin
            idx, theta, loss, g = idx[keep], theta[keep], loss[keep], g[keep]
            S, Y, rho, steps, stuck = S[keep], Y[keep], rho[keep], steps[keep], stuck[keep]
            if callback is not None:
                callback(step, int(idx.numel()))
            if idx.numel() == 0:
                break
        d = _two_loop(g, S, Y, rho)
        slope = (g * d).sum(1)
        bad = ~(slope < 0) | ~torch.isfinite(slope)  # safeguard: fall back to -g
        d = torch.where(bad[:, None], -g, d)
        slope = torch.where(bad, -(g * g).sum(1), slope)
        if max_step_norm is not None:
            dn = torch.linalg.vector_norm(d, dim=1)
            scale = torch.clamp(max_step_norm / dn.clamp_min(1e-300), max=1.0)
            d, slope = d * scale[:, None], slope * scale
        t = torch.ones_like(loss)
        accepted = torch.zeros_like(stuck)
        new_theta, new_loss = theta.clone(), loss.clone()
        for _ in range(max_backtracks):  # halvings, each one batched over pending rows
            pend = torch.nonzero(~accepted).flatten()
            if pend.numel() == 0:
                break
            trial = theta[pend] + t[pend, None] * d[pend]
            lt = problem.loss(trial)
            ok = armijo_accepts(lt, loss[pend], t[pend], slope[pend], trial, theta[pend], c1)
            sel = pend[ok]
            new_theta[sel], new_loss[sel] = trial[ok], lt[ok]
            accepted[sel] = True
            t[pend[~ok]] *= 0.5
        stuck = ~accepted
        _, new_g = problem.loss_and_grad(new_theta)
        s_vec, y_vec = new_theta - theta, new_g - g
        sy = (s_vec * y_vec).sum(1)
        good = accepted & (
            sy
            > 1e-12
            * torch.linalg.vector_norm(s_vec, dim=1)
            * torch.linalg.vector_norm(y_vec, dim=1)
        )
        # newest pair first: rows with a good pair shift their memory by one
        S = torch.where(good[:, None, None], torch.roll(S, 1, dims=1), S)
        Y = torch.where(good[:, None, None], torch.roll(Y, 1, dims=1), Y)
        rho = torch.where(good[:, None], torch.roll(rho, 1, dims=1), rho)
        S[good, 0], Y[good, 0] = s_vec[good], y_vec[good]
        rho[good, 0] = 1.0 / sy[good]
        theta, loss, g = new_theta, new_loss, torch.where(accepted[:, None], new_g, g)
        steps = steps + accepted.long()
        step += 1
    return out.result()
