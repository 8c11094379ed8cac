"""Batched gradient descent with a per-row backtracking (Armijo) step size.

Each row keeps its own step length t: a step theta - t g is accepted when
F(theta - t g) <= F(theta) - c1 t |g|^2, otherwise t is halved (every pending row in
one batched loss call); after an accepted step t grows by ``grow``, so a row's step
tracks 1 / (local curvature) without a hand-tuned learning rate. This is still plain
gradient descent (direction -g); only the length is chosen per row.

Problems whose rows carry their own data (``OneHiddenRegression``) expose
``select(rows)``; the optimizer then restricts the problem whenever it restricts the
batch, so rows and data stay aligned.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..problems import Problem
from ._linesearch import armijo_accepts
from .minimize import MinimizeResult, _Outcomes

__all__ = ["gd_armijo"]


def _sub(problem, rows: torch.Tensor):
    return problem.select(rows) if hasattr(problem, "select") else problem


def gd_armijo(
    problem: Problem,
    theta0: torch.Tensor,
    *,
    tol: float = 1e-9,
    loss_tol: float | None = None,
    max_steps: int = 10_000,
    lr0: float = 1.0,
    grow: float = 1.5,
    c1: float = 1e-4,
    max_backtracks: int = 40,
    diverge_grad: float = 1e12,
    callback: Callable[[int, int], None] | None = None,
) -> MinimizeResult:
    """Gradient descent with backtracking on every row until ||grad|| <= tol or a cap.

    Args:
        problem: ``loss`` and ``loss_and_grad`` on (R', P) batches (and ``select`` when
            rows carry their own data).
        theta0: (R, P) starting rows.
        tol: gradient-norm tolerance (status converged).
        loss_tol: a row whose loss is <= this also counts as converged (for problems
            with a known minimum value 0, such as noiseless regression).
        max_steps: accepted steps per row (status max_steps; also a row for which no
            decrease can be found in ``max_backtracks`` halvings).
        lr0: first trial step of every row.
        grow: factor applied to a row's step after each accepted step (>= 1).
        c1: Armijo constant in (0, 1).
        diverge_grad: a gradient norm above this (or a non-finite one) counts as diverged.
        callback: ``callback(step, active_rows)`` when rows leave the batch.
    """
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")
    if max_steps < 0 or max_backtracks < 1 or not (lr0 > 0) or not (grow >= 1):
        raise ValueError("need max_steps >= 0, max_backtracks >= 1, lr0 > 0 and grow >= 1.")
    if not 0 < c1 < 1:
        raise ValueError(f"c1 must be in (0, 1), got {c1!r}.")
    R = theta0.shape[0]
    out = _Outcomes(theta0)
    idx = torch.arange(R, device=theta0.device)
    prob = problem
    theta = theta0.clone()
    loss, g = prob.loss_and_grad(theta)
    t = torch.full_like(loss, lr0)
    steps = torch.zeros(R, dtype=torch.long, device=theta0.device)
    stuck = torch.zeros(R, dtype=torch.bool, device=theta0.device)
    step = 0
    while idx.numel() > 0:
        gn = torch.linalg.vector_norm(g, dim=1)
        finite = (gn <= diverge_grad) & torch.isfinite(loss)
        conv = finite & (gn <= tol)
        if loss_tol is not None:
            conv = conv | (finite & (loss <= loss_tol))
        div = ~finite
        cap = ~conv & ~div & ((steps >= max_steps) | stuck)
        fin = conv | div | cap
        if bool(fin.any()):
            out.record(idx[fin], theta[fin], gn[fin], steps[fin], div[fin], cap[fin])
            keep = torch.nonzero(~fin).flatten()
            idx, theta, loss, g = idx[keep], theta[keep], loss[keep], g[keep]
            t, steps, stuck = t[keep], steps[keep], stuck[keep]
            prob = _sub(prob, keep)
            if callback is not None:
                callback(step, int(idx.numel()))
            if idx.numel() == 0:
                break
        gg = (g * g).sum(1)
        # first trial on every active row at once (most rows accept it) ...
        trial = theta - t[:, None] * g
        lt = prob.loss(trial)
        accepted = armijo_accepts(lt, loss, t, -gg, trial, theta, c1)
        new_theta = torch.where(accepted[:, None], trial, theta)
        new_loss = torch.where(accepted, lt, loss)
        t = torch.where(accepted, t, 0.5 * t)
        # ... then halvings for the rows that did not, each batched over those rows
        for _ in range(max_backtracks - 1):
            if bool(accepted.all()):
                break
            pend = torch.nonzero(~accepted).flatten()
            trial = theta[pend] - t[pend, None] * g[pend]
            lt = _sub(prob, pend).loss(trial)
            ok = armijo_accepts(lt, loss[pend], t[pend], -gg[pend], trial, theta[pend], c1)
            sel = pend[ok]
            new_theta[sel], new_loss[sel] = trial[ok], lt[ok]
            accepted[sel] = True
            t[pend[~ok]] *= 0.5
        stuck = ~accepted
        loss, g2 = prob.loss_and_grad(new_theta)
        theta, g = new_theta, g2
        t = torch.where(accepted, t * grow, t)
        steps = steps + accepted.long()
        step += 1
    return out.result()
