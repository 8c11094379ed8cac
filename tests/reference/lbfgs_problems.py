"""Batched test problems for L-BFGS (Rosenbrock, a convex quadratic, a recorder) and a
plain one-row L-BFGS to test the batched ``landscope.optim.LBFGS`` against.

The problems follow the ``landscope.problems.Problem`` protocol on (R, P) batches with closed-form
gradients (checked against autograd in tests/optim/test_lbfgs.py). The optimizer drops
finished rows from its batch, so a problem never learns which row it is given: anything
that differs between rows must live in the starting point, not in the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

__all__ = ["Quadratic", "Recorder", "Rosenbrock", "random_spd", "reference_lbfgs"]


def _check(theta: torch.Tensor, P: int) -> None:
    if theta.dim() != 2 or theta.shape[1] != P:
        raise ValueError(f"theta has shape {tuple(theta.shape)}; expected (R, {P}).")


@dataclass(frozen=True, eq=False)
class Rosenbrock:
    """f(x) = sum_{i<P-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at (1, ..., 1).

    For 4 <= P <= 7 there is a second local minimum near (-1, 1, ..., 1); starts with
    x_0 > 0 stay away from it in practice.
    """

    n_params: int = 2
    dtype: torch.dtype = torch.float64
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def global_min(self) -> float:
        return 0.0

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        _check(theta, self.n_params)
        x, xn = theta[:, :-1], theta[:, 1:]
        return (100 * (xn - x * x).square() + (1 - x).square()).sum(1)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        _check(theta, self.n_params)
        x, xn = theta[:, :-1], theta[:, 1:]
        u = xn - x * x
        g = torch.zeros_like(theta)
        g[:, :-1] = -400 * x * u - 2 * (1 - x)
        g[:, 1:] += 200 * u
        return g

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(theta), self.grad(theta)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Uniform on [0.2, 2]^P (x_0 > 0: the basin of the global minimum)."""
        u = torch.rand(R, self.n_params, generator=generator, dtype=self.dtype)
        return 0.2 + 1.8 * u


@dataclass(frozen=True, eq=False)
class Quadratic:
    """f(x) = 1/2 x'A x - b'x for symmetric positive definite A: minimum at x* = A^{-1} b.

    With ``centred=True`` the loss is evaluated as 1/2 (x - x*)'A (x - x*), the same
    function shifted by the constant 1/2 b'x*. Near x* the uncentred form loses the
    decrease in rounding: its terms are of size |b| |x*| while a step at gradient g lowers
    f by only ~|g|^2 / lambda, so a value-based line search cannot see progress once
    |g| ~ sqrt(lambda_max eps |b| |x*|). The gradient is A x - b in both forms.
    """

    A: torch.Tensor
    b: torch.Tensor
    centred: bool = False
    dtype: torch.dtype = torch.float64
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    minimizer: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "minimizer", torch.linalg.solve(self.A, self.b))

    @property
    def n_params(self) -> int:
        return int(self.b.shape[0])

    @property
    def global_min(self) -> float:
        return 0.0 if self.centred else float(-0.5 * self.b @ self.minimizer)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        _check(theta, self.n_params)
        if self.centred:
            z = theta - self.minimizer
            return 0.5 * ((z @ self.A) * z).sum(1)
        return 0.5 * ((theta @ self.A) * theta).sum(1) - theta @ self.b

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        _check(theta, self.n_params)
        return theta @ self.A - self.b  # A symmetric

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(theta), self.grad(theta)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        return torch.randn(R, self.n_params, generator=generator, dtype=self.dtype)


def random_spd(P: int, cond: float, seed: int) -> torch.Tensor:
    """A = Q diag(logspace(0, log10 cond)) Q' with a seeded random orthogonal Q."""
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=gen, dtype=torch.float64))
    ev = torch.logspace(0, float(torch.log10(torch.tensor(cond))), P, dtype=torch.float64)
    A = (Q * ev) @ Q.T
    return 0.5 * (A + A.T)


@dataclass(eq=False)
class Recorder:
    """Wraps a problem and keeps a copy of every ``loss_and_grad`` call's inputs and outputs.

    Use it with R = 1: L-BFGS then calls ``loss_and_grad`` once at the start and once per
    iteration at the accepted point (or at the old point when the line search failed).
    """

    inner: object
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)

    @property
    def n_params(self) -> int:
        return self.inner.n_params

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.inner.loss(theta)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.inner.grad(theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, g = self.inner.loss_and_grad(theta)
        self.calls.append((theta.clone(), loss.clone(), g.clone()))
        return loss, g


def reference_lbfgs(
    problem: object,
    theta0: torch.Tensor,
    *,
    grad_tol: float,
    max_steps: int,
    memory: int = 10,
    c1: float = 1e-4,
    max_backtracks: int = 40,
    max_step_norm: float | None = None,
    diverge: float = 1e12,
) -> tuple[torch.Tensor, int, int, list[torch.Tensor]]:
    """Textbook L-BFGS on one row (P,), written for clarity, with LBFGS' conventions.

    Nocedal & Wright Algorithm 7.4 (two-loop recursion, gamma = s'y / y'y of the newest
    pair, pairs kept only when s'y > 1e-12 |s| |y|), -g when that is not a descent
    direction, the direction scaled down to ``max_step_norm``, and backtracking from
    t = 1 by halving until F(x + t d) <= F(x) + c1 t g'd. Stops when ||g|| <= grad_tol
    (1), after ``max_steps`` accepted steps or a failed line search (2), or when the loss
    is not finite or ||g|| > diverge (3).

    Returns:
        (theta, steps, status, path): path holds the start and every accepted point.
    """
    x = theta0.clone()
    f, g = (v[0] for v in problem.loss_and_grad(x[None]))
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # oldest first
    path, steps = [x.clone()], 0
    while True:
        gn = float(torch.linalg.vector_norm(g))
        if not (math.isfinite(float(f)) and gn <= diverge):
            return x, steps, 3, path
        if gn <= grad_tol:
            return x, steps, 1, path
        if steps >= max_steps:
            return x, steps, 2, path
        # dot products as elementwise product then sum and 1 / s'y as a factor, as LBFGS
        # computes them: the paths then agree to rounding, not merely to tolerance
        q, alphas = g.clone(), []
        for s, y in reversed(pairs):
            a = (1.0 / (s * y).sum()) * (s * q).sum()
            alphas.append(a)
            q = q - a * y
        if pairs:
            s, y = pairs[-1]
            q = ((s * y).sum() / (y * y).sum()) * q
        for (s, y), a in zip(pairs, reversed(alphas), strict=True):
            q = q + (a - (1.0 / (s * y).sum()) * (y * q).sum()) * s
        d = -q
        if not float((g * d).sum()) < 0:
            d = -g
        if max_step_norm is not None and float(d.norm()) > max_step_norm:
            d = d * (max_step_norm / d.norm())
        slope, t = float((g * d).sum()), 1.0
        for _ in range(max_backtracks):
            ft = problem.loss((x + t * d)[None])[0]
            if math.isfinite(float(ft)) and float(ft) <= float(f) + c1 * t * slope:
                break
            t *= 0.5
        else:
            return x, steps, 2, path  # no descent found
        x_new = x + t * d
        f, g_new = ft, problem.loss_and_grad(x_new[None])[1][0]  # f: the accepted trial
        s, y = x_new - x, g_new - g
        if float((s * y).sum()) > 1e-12 * float(s.norm()) * float(y.norm()):
            pairs = [*pairs, (s, y)][-memory:]
        x, g, steps = x_new, g_new, steps + 1
        path.append(x.clone())
