"""Newton polish: drive rows that are near a critical point to ||grad|| ~ 1e-12.

First-order methods stall around ||grad|| ~ 1e-9 within any sensible budget, and a
second-order verdict at a point whose gradient is not tiny against the smallest Hessian
eigenvalue certifies nothing. Near a nondegenerate critical point (minimum *or* saddle)
Newton's method converges quadratically, so one or two solves suffice.

Each iteration tries the plain Newton step H d = -g (LU, cheap). Rows where it fails
(singular H, or the gradient norm does not decrease) take a Levenberg-Marquardt step on
the gradient system g(theta) = 0 instead,

    d = -(H^2 + mu I)^{-1} H g,   mu = mu0 * ||g||,

solved in H's eigenbasis and retried with mu x 100 until ||g|| decreases. This converges
to saddles as well as minima and tolerates singular Hessians (degenerate minima of
over-parameterized students), where the error bound holds (Yamashita & Fukushima 2001).
A row is never moved to a point with a larger gradient norm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import finite_rows
from ..problems import Problem
from .driver import STATUS, MethodBase, Step, Stop, run

__all__ = ["Newton", "PolishResult", "newton_polish"]


def _gn(problem: Problem, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    g = problem.grad(theta)
    gn = torch.linalg.vector_norm(g, dim=1)
    return g, torch.where(torch.isfinite(gn), gn, torch.inf)


def _solve(H: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.solve_ex(H, b)``: (x, info), info != 0 where H is singular.

    torch 2.13's batched LU on MKL has been seen to hand ``lu_solve`` invalid pivots (MKL
    prints "Parameter 6 was incorrect on entry to DLASWP" and torch raises "Pivots given to
    lu_solve must all be greater or equal to 1"): once in a full test run at P = 256 with a
    batch of 209 finite Hessians, and once on random 209 x 400 x 400 batches, never when
    repeated in isolation. Then the rows are solved one at a time by numpy's LAPACK.
    """
    try:
        return torch.linalg.solve_ex(H, b)
    except RuntimeError as err:
        if "pivots" not in str(err).lower():
            raise
    Hn, bn = H.detach().cpu().numpy(), b.detach().cpu().numpy()
    x = np.zeros_like(bn)
    info = np.zeros(Hn.shape[0], dtype=np.int32)
    for r in range(Hn.shape[0]):  # the rare fallback, not the hot path
        try:
            x[r] = np.linalg.solve(Hn[r], bn[r])
        except np.linalg.LinAlgError:
            info[r] = 1
    return torch.from_numpy(x).to(b), torch.from_numpy(info).to(b.device)


@dataclass(frozen=True)
class Newton(MethodBase):
    """Damped Newton towards the nearest critical point (minimum or saddle).

    A step is taken only when it lowers the gradient norm; a row that cannot lower it is
    stuck (at its floor). Steps counted: iterations that moved the row.

    Attributes:
        mu0: LM damping factor, mu = mu0 * ||g||.
        lm_tries: how many times a failing LM step may raise mu by 100.
    """

    mu0: float = 1.0
    lm_tries: int = 8
    name = "newton"
    needs_loss = False

    def init(self, problem, theta: torch.Tensor) -> None:
        return None

    def update(self, problem, theta, loss, ga, state) -> Step:
        P = theta.shape[1]
        gna = torch.linalg.vector_norm(ga, dim=1)
        H = problem.hessian(theta)
        finite_h = finite_rows(H)
        if not bool(finite_h.all()):
            eye = torch.eye(P, dtype=H.dtype, device=H.device)
            H = torch.where(finite_h[:, None, None], H, eye)
        d, info = _solve(H, -ga[..., None])
        d = d[..., 0]
        ok = finite_h & (info == 0) & torch.isfinite(d).all(1)
        trial = torch.where(ok[:, None], theta + d, theta)
        gt, gnt = _gn(problem, trial)
        better = ok & (gnt < gna)
        bad = torch.nonzero(~better & finite_h).flatten()
        if bad.numel() > 0:  # LM on the rows where Newton did not help
            lam, Q = torch.linalg.eigh(H[bad])
            gq = (Q.transpose(1, 2) @ ga[bad][..., None])[..., 0]
            mu = self.mu0 * gna[bad]
            pend = torch.ones(bad.numel(), dtype=torch.bool, device=theta.device)
            for _try in range(self.lm_tries):
                coeff = lam / (lam * lam + mu[:, None])
                dl = -(Q @ (coeff * gq)[..., None])[..., 0]
                tl = theta[bad] + dl
                gl, gnl = _gn(problem, tl)
                win = pend & (gnl < gna[bad])
                sel = bad[win]
                trial[sel], gt[sel] = tl[win], gl[win]
                better[sel] = True
                pend = pend & ~win
                if not bool(pend.any()):
                    break
                mu = mu * 100.0
        new_theta = torch.where(better[:, None], trial, theta)
        new_g = torch.where(better[:, None], gt, ga)
        return Step(new_theta, None, accepted=better, stuck=~better, grad=new_g)


@dataclass(frozen=True)
class PolishResult:
    """Per-row outcome of ``newton_polish``.

    Attributes:
        theta: polished rows (R, P).
        grad_norm: ||grad|| at ``theta`` (R,) (inf where it is not finite).
        iters: Newton iterations that changed each row (R,).
        converged: ``grad_norm <= grad_tol`` (R,).
        exhausted: (R,) bool, rows that stopped because the budget ran out (``max_steps``
            iterations, or ``max_seconds``) while they were still improving: neither
            converged, nor stuck at their floor, nor non-finite. ``certify(...,
            polish=result)`` reports them as "polish budget exhausted". None only for a
            result built by hand.
    """

    theta: torch.Tensor
    grad_norm: torch.Tensor
    iters: torch.Tensor
    converged: torch.Tensor
    exhausted: torch.Tensor | None = None


def newton_polish(
    problem: Problem,
    theta: torch.Tensor,
    *,
    grad_tol: float = 1e-12,
    loss_target: float | None = None,
    max_steps: int = 20,
    mu0: float = 1.0,
    lm_tries: int = 8,
    chunk: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> PolishResult:
    """Polish every row of ``theta`` towards a nearby critical point (``Newton`` under ``run``).

    Call it on rows whose gradient is already small (say <= 1e-6): far from a critical
    point a Newton step may jump to a different one. A row is never moved to a point with
    a larger gradient norm; non-finite rows are left as they are.

    Args:
        problem: supplies ``grad`` and ``hessian``.
        theta: (R, P) rows.
        grad_tol: target gradient norm; rows at or below it stop.
        loss_target: rows whose loss is at or below it stop too (None: never), e.g. the
            known global value plus a certificate's gap tolerance.
        max_steps: Newton iterations per row.
        mu0: LM damping factor, mu = mu0 * ||g||.
        lm_tries: how many times a failing LM step may raise mu by 100.
        chunk: rows per batched solve; by default enough to keep each (rows, P, P)
            Hessian batch near 256 MB.
        max_seconds: wall-clock budget of the whole polish (None: none). Checked after
            each Newton iteration over all running rows, so at least one iteration is
            done and the budget can be overrun by one iteration (one Hessian and solve
            per row); rows still improving then stop with ``exhausted`` True.
        progress: called as ``progress(done, total, text)`` after every iteration, with
            the rows finished so far and a text such as ``"newton 3, 12.5 s"`` (the
            signature of ``landscope.optim.Progress``'s ``fn``).

    Returns:
        PolishResult, one entry per row.

    Raises:
        ValueError: for a ``max_seconds`` that is not a number >= 0.

    With neither ``max_seconds`` nor ``progress`` the rows run under one ``run`` call per
    chunk (the former path); with either, ``run`` is called one iteration at a time on the
    rows still running, which gives the same iterates (``Newton`` keeps no state) at the
    cost of one more gradient per iteration.
    """
    R, P = theta.shape
    if max_seconds is not None and (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, (int, float))
        or not max_seconds >= 0
    ):
        raise ValueError(f"max_seconds must be a number >= 0 or None, got {max_seconds!r}.")
    if chunk is None:
        chunk = max(1, (256 << 20) // (8 * P * P))
    method = Newton(mu0=mu0, lm_tries=lm_tries)
    if max_seconds is not None or progress is not None:
        return _polish_stepwise(
            problem, theta, method, grad_tol, loss_target, max_steps, chunk, max_seconds,
            progress,
        )  # fmt: skip
    stop = Stop(grad_tol=grad_tol, loss_target=loss_target, max_steps=max_steps,
                diverge=math.inf)  # fmt: skip
    starts = range(0, max(R, 1), chunk)  # one (empty) part when there are no rows
    parts = [run(problem, theta[lo : lo + chunk], method, stop=stop) for lo in starts]
    th = torch.cat([p.theta for p in parts])
    gn = torch.cat([p.grad_norm for p in parts])
    iters = torch.cat([p.steps for p in parts])
    status = torch.cat([p.status for p in parts])
    # max_steps status covers both a spent budget and a stuck row; only the first used
    # every step it had
    exhausted = (status == _MAX_STEPS) & (iters >= max_steps) & ~(gn <= grad_tol)
    return PolishResult(theta=th, grad_norm=gn, iters=iters, converged=gn <= grad_tol,
                        exhausted=exhausted)  # fmt: skip


_MAX_STEPS = STATUS.index("max_steps")


def _polish_stepwise(
    problem: Problem,
    theta: torch.Tensor,
    method: Newton,
    grad_tol: float,
    loss_target: float | None,
    max_steps: int,
    chunk: int,
    max_seconds: float | None,
    progress: Callable[[int, int, str], None] | None,
) -> PolishResult:
    """``newton_polish`` one iteration at a time, for its time budget and progress."""
    t0 = time.perf_counter()
    R = theta.shape[0]
    dev = theta.device
    th = theta.clone()
    gn = torch.full((R,), math.inf, dtype=theta.dtype, device=dev)
    iters = torch.zeros(R, dtype=torch.long, device=dev)
    exhausted = torch.zeros(R, dtype=torch.bool, device=dev)
    active = torch.arange(R, device=dev)
    stop = Stop(grad_tol=grad_tol, loss_target=loss_target, max_steps=1, diverge=math.inf)
    k = 0
    while active.numel():
        if k >= max_steps or (max_seconds is not None and k > 0 and
                              time.perf_counter() - t0 > max_seconds):  # fmt: skip
            exhausted[active] = True  # still improving when the budget ran out
            if progress is not None:
                elapsed = time.perf_counter() - t0
                progress(R, R, f"newton {k}, {elapsed:.1f} s, budget spent")
            break
        cur = th[active]
        parts = [run(problem, cur[lo : lo + chunk], method, stop=stop)
                 for lo in range(0, cur.shape[0], chunk)]  # fmt: skip
        steps = torch.cat([p.steps for p in parts])
        status = torch.cat([p.status for p in parts])
        th[active] = torch.cat([p.theta for p in parts])
        gn[active] = torch.cat([p.grad_norm for p in parts])
        iters[active] += steps
        # a row goes on if it moved and is not done; a row that could not move is stuck
        active = active[(status == _MAX_STEPS) & (steps > 0)]
        k += 1
        if progress is not None:
            elapsed = time.perf_counter() - t0
            progress(R - active.numel(), R, f"newton {k}, {elapsed:.1f} s")
    return PolishResult(theta=th, grad_norm=gn, iters=iters, converged=gn <= grad_tol,
                        exhausted=exhausted & ~(gn <= grad_tol))  # fmt: skip
