"""Batched Levenberg-Marquardt for least-squares problems, over (R, P) rows.

For a loss F(theta) = |r(theta)|^2 / 2 with residuals r (m entries) and Jacobian J, each
row takes the step (J'J + mu I) delta = -J'r and adapts its own damping mu by Nielsen's
rule (Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems", 2004,
Algorithm 3.16): with the gain ratio rho = (F - F_new) / (delta'(mu delta - g) / 2), a
step with rho > 0 is taken and mu *= max(1/3, 1 - (2 rho - 1)^3); otherwise mu *= nu,
nu *= 2. The starting mu is ``mu0`` times the largest diagonal entry of J'J.

Like gradient descent it is a local descent method (every taken step lowers F), so it
ends at local minima or, rarely, saddles; unlike gradient descent it converges fast to
zero-residual minima even when they are degenerate (flat directions of an
over-parameterized network), where J'J is singular but the damped system is not.
The problem must provide ``residuals_and_jacobian(theta) -> (r (R, m), J (R, m, P))``
and ``residuals(theta) -> r``, with its loss equal to |r|^2 / 2. The gain of a trial
step is computed from residuals, (r - r')(r + r') / 2, not as a difference of losses,
so steps keep being accepted down to gradients far below sqrt(eps |F|).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..problems import Problem
from .minimize import MinimizeResult, _Outcomes

__all__ = ["levenberg_marquardt"]


def levenberg_marquardt(
    problem: Problem,
    theta0: torch.Tensor,
    *,
    tol: float = 1e-10,
    max_steps: int = 500,
    mu0: float = 1e-3,
    diverge_grad: float = 1e12,
    callback: Callable[[int, int], None] | None = None,
) -> MinimizeResult:
    """Run batched Levenberg-Marquardt until ||grad|| <= tol, divergence or ``max_steps``.

    Args:
        problem: supplies ``residuals_and_jacobian`` and ``residuals`` on an (R', P) batch.
        theta0: (R, P) starting rows.
        tol: gradient-norm tolerance (grad = J'r).
        max_steps: iterations per row (taken and rejected steps both count).
        mu0: initial damping relative to max diag(J'J).
        diverge_grad: a gradient norm above this counts as diverged.
        callback: called as ``callback(step, active_rows)`` when rows leave the batch.

    A row whose damping grows past 1e16 x max diag(J'J) (no decrease can be found)
    stops and is reported ``max_steps``. With a nonzero residual at the optimum that is
    how rows end whose gradient is below what rounding lets a step verify, about
    sqrt(lambda_max(J'J) eps |r|^2); zero-residual rows converge to ~1e-12 and beyond.
    Follow with ``newton_polish`` where a tighter gradient is needed.

    Returns:
        MinimizeResult (status 1 converged, 2 max_steps, 3 diverged); ``steps`` counts
        iterations.
    """
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")
    if max_steps < 0 or not (math.isfinite(mu0) and mu0 > 0):
        raise ValueError("max_steps must be >= 0 and mu0 a positive number.")
    R, P = theta0.shape
    dev = theta0.device
    out = _Outcomes(theta0)
    idx = torch.arange(R, device=dev)
    theta = theta0.clone()
    mu = None
    nu = torch.full((R,), 2.0, dtype=theta.dtype, device=dev)
    steps = torch.zeros(R, dtype=torch.long, device=dev)
    stuck = torch.zeros(R, dtype=torch.bool, device=dev)
    eye = torch.eye(P, dtype=theta.dtype, device=dev)
    step = 0
    while idx.numel() > 0:
        r, J = problem.residuals_and_jacobian(theta)
        loss = 0.5 * (r * r).sum(1)
        g = (J.transpose(1, 2) @ r[..., None])[..., 0]
        A = J.transpose(1, 2) @ J
        dmax = torch.diagonal(A, dim1=1, dim2=2).amax(1).clamp_min(1e-300)
        if mu is None:
            mu = mu0 * dmax
        gn = torch.linalg.vector_norm(g, dim=1)
        finite = (gn <= diverge_grad) & torch.isfinite(loss)
        conv = finite & (gn <= tol)
        div = ~finite
        cap = ~conv & ~div & ((steps >= max_steps) | stuck | (mu > 1e16 * dmax))
        fin = conv | div | cap
        if bool(fin.any()):
            out.record(idx[fin], theta[fin], gn[fin], steps[fin], div[fin], cap[fin])
            keep = ~fin
            idx, theta, r, g, A = idx[keep], theta[keep], r[keep], g[keep], A[keep]
            mu, nu, steps, stuck = mu[keep], nu[keep], steps[keep], stuck[keep]
            if callback is not None:
                callback(step, int(idx.numel()))
            if idx.numel() == 0:
                break
        # inner loop: rows whose step is rejected retry with more damping, same J
        pending = torch.ones(idx.numel(), dtype=torch.bool, device=dev)
        new_theta = theta.clone()
        for _ in range(60):
            rows = torch.nonzero(pending).flatten()
            if rows.numel() == 0:
                break
            M = A[rows] + mu[rows, None, None] * eye
            L, info = torch.linalg.cholesky_ex(M)
            delta = torch.cholesky_solve(-g[rows, :, None], L)[..., 0]
            trial = theta[rows] + delta
            ok_chol = info == 0
            new_r = problem.residuals(trial)
            new_loss = 0.5 * (new_r * new_r).sum(1)
            # the decrease as (r - r')(r + r') / 2: exact to rounding of the residuals,
            # where F - F' would lose it once it is below eps |F|
            gain = 0.5 * ((r[rows] - new_r) * (r[rows] + new_r)).sum(1)
            pred = 0.5 * (delta * (mu[rows, None] * delta - g[rows])).sum(1)
            rho = gain / pred.clamp_min(1e-300)
            moved = (trial != theta[rows]).any(1)
            ok = ok_chol & torch.isfinite(new_loss) & (rho > 0) & moved
            acc, rej = rows[ok], rows[~ok]
            new_theta[acc] = trial[ok]
            f = 1 - (2 * rho[ok] - 1) ** 3
            mu[acc] = mu[acc] * torch.clamp(f, min=1.0 / 3.0)
            nu[acc] = 2.0
            mu[rej] = mu[rej] * nu[rej]
            nu[rej] = nu[rej] * 2
            pending[acc] = False
            too_damped = mu[rej] > 1e16 * torch.diagonal(A[rej], dim1=1, dim2=2).amax(1)
            pending[rej[too_damped]] = False
            stuck[rej[too_damped]] = True
        theta = new_theta
        steps = steps + 1
        step += 1
    return out.result()
