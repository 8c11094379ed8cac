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
The problem must have the ``Residuals`` capability (``residuals_and_jacobian(theta) ->
(r (R, m), J (R, m, P))`` and ``residuals(theta) -> r``), with its loss equal to |r|^2 / 2.
The gain of a trial step is computed from residuals, (r - r')(r + r') / 2, not as a
difference of losses, so steps keep being accepted down to gradients far below sqrt(eps |F|).

With more parameters than residuals (P > m) and a Jacobian given as Kronecker factors
(``FactoredJacobian``: the layers of a network), the same step is taken in its m x m
form, delta = -J' (J J' + mu I)^-1 r (the push-through identity (J'J + mu I)^-1 J' =
J' (J J' + mu I)^-1), with J J' and J' v formed from the factors and J never built: for a
deep quadratic student of 140 units per layer on 1,430 samples (P ~ 21,000) that is
~3 GFLOP an iteration (J J' and its Cholesky factor) where J'J alone would take ~640 and
3.6 GB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..problems.capabilities import FactoredJacobian, Residuals
from .driver import Eval, MethodBase, Step, restrict

__all__ = ["LevenbergMarquardt"]


def require_residuals(problem, method: str) -> None:
    """Refuse, in one sentence, a problem that is not a least-squares problem."""
    if not isinstance(problem, Residuals):
        raise TypeError(
            f"{type(problem).__name__} has no residuals and Jacobian; "
            f"{method} needs a least-squares problem."
        )


def normal_equations(
    problem, theta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Residuals r, loss |r|^2 / 2, gradient J'r and Gauss-Newton matrix J'J of every row."""
    r, J = problem.residuals_and_jacobian(theta)
    Jt = J.transpose(1, 2)
    return r, 0.5 * (r * r).sum(1), (Jt @ r[..., None])[..., 0], Jt @ J


def gram(factors: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """J J' (R, m, m) from Kronecker factors: sum over blocks of (A A') * (B B')."""
    out = None
    for A, B in factors:
        term = (A @ A.transpose(1, 2)) * (B @ B.transpose(1, 2))
        out = term if out is None else out + term
    return out


def jt_apply(factors: list[tuple[torch.Tensor, torch.Tensor]], v: torch.Tensor) -> torch.Tensor:
    """J' v (R, P) for v (R, m): per block (A * v)' B, flattened row-major."""
    R = v.shape[0]
    return torch.cat(
        [((A * v[..., None]).transpose(1, 2) @ B).reshape(R, -1) for A, B in factors], dim=1
    )


def jtj_diag(factors: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """diag(J'J) (R, P): per block (A^2)' B^2."""
    R = factors[0][0].shape[0]
    return torch.cat(
        [(A.square().transpose(1, 2) @ B.square()).reshape(R, -1) for A, B in factors], dim=1
    )


@dataclass(frozen=True)
class LevenbergMarquardt(MethodBase):
    """Batched Levenberg-Marquardt (steps counted: iterations, taken or not).

    Attributes:
        mu0: initial damping relative to max diag(J'J).
        max_tries: damping increases tried within one iteration.

    A row whose damping grows past 1e16 x max diag(J'J) (no decrease can be found) is
    stuck (status ``max_steps``). With a nonzero residual at the optimum that is how rows
    end whose gradient is below what rounding lets a step verify, about
    sqrt(lambda_max(J'J) eps |r|^2); zero-residual rows converge to ~1e-12 and beyond.
    Follow with ``newton_polish`` where a tighter gradient is needed.
    """

    mu0: float = 1e-3
    max_tries: int = 60
    name = "levenberg_marquardt"
    needs_loss = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mu0) and self.mu0 > 0):
            raise ValueError(f"mu0 must be a positive number, got {self.mu0!r}.")

    def init(self, problem, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        require_residuals(problem, "Levenberg-Marquardt")
        R, P = theta.shape
        # the m x m form where the Jacobian comes in factors and has fewer rows than
        # columns (decided once, from one row's residuals; kept per row for the driver)
        dual = isinstance(problem, FactoredJacobian) and (
            R > 0 and problem.residuals(theta[:1]).shape[1] < P
        )
        return {
            "mu": torch.full((R,), math.nan, dtype=theta.dtype, device=theta.device),
            "nu": torch.full((R,), 2.0, dtype=theta.dtype, device=theta.device),
            "dual": torch.full((R,), dual, dtype=torch.bool, device=theta.device),
        }

    def evaluate(self, problem, theta, state, need_loss) -> Eval:
        if bool(state["dual"][:1].any()):
            r, F = problem.residuals_and_factors(theta)
            g = jt_apply(F, r)
            dmax = jtj_diag(F).amax(1).clamp_min(1e-300)
            loss = 0.5 * (r * r).sum(1)
            extra = {"r": r, "K": gram(F), "F": F, "dmax": dmax}
        else:
            r, loss, g, A = normal_equations(problem, theta)
            dmax = torch.diagonal(A, dim1=1, dim2=2).amax(1).clamp_min(1e-300)
            extra = {"r": r, "A": A, "dmax": dmax}
        mu = torch.where(torch.isnan(state["mu"]), self.mu0 * dmax, state["mu"])
        state = {"mu": mu, "nu": state["nu"], "dual": state["dual"], **extra}
        return Eval(loss, g, state, stuck=mu > 1e16 * dmax)

    def update(self, problem, theta, loss, g, state) -> Step:
        r, dmax = state["r"], state["dmax"]
        dual = "K" in state
        mu, nu = state["mu"].clone(), state["nu"].clone()
        R, P = theta.shape
        n = r.shape[1] if dual else P
        eye = torch.eye(n, dtype=theta.dtype, device=theta.device)
        stuck = torch.zeros(R, dtype=torch.bool, device=theta.device)
        # rows whose step is rejected retry with more damping, same J
        pending = torch.ones(R, dtype=torch.bool, device=theta.device)
        new_theta = theta.clone()
        for _ in range(self.max_tries):
            rows = torch.nonzero(pending).flatten()
            if rows.numel() == 0:
                break
            if dual:  # delta = -J' (J J' + mu I)^-1 r
                M = state["K"][rows] + mu[rows, None, None] * eye
                L, info = torch.linalg.cholesky_ex(M)
                alpha = torch.cholesky_solve(r[rows, :, None], L)[..., 0]
                delta = -jt_apply([(A[rows], B[rows]) for A, B in state["F"]], alpha)
            else:  # (J'J + mu I) delta = -J'r
                M = state["A"][rows] + mu[rows, None, None] * eye
                L, info = torch.linalg.cholesky_ex(M)
                delta = torch.cholesky_solve(-g[rows, :, None], L)[..., 0]
            trial = theta[rows] + delta
            ok_chol = info == 0
            new_r = restrict(problem, rows).residuals(trial)
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
            too_damped = mu[rej] > 1e16 * dmax[rej]
            pending[rej[too_damped]] = False
            stuck[rej[too_damped]] = True
        return Step(new_theta, {"mu": mu, "nu": nu, "dual": state["dual"]}, stuck=stuck)
