"""Slow reference for the two-layer ReLU teacher-student population loss.

    F(W, a) = 1/2 E_{x ~ N(0, I_d)}[(sum_i a_i relu(w_i.x) - sum_j b_j relu(v_j.x))^2]

written for one (unbatched) point straight from the arc-cosine kernel (Cho & Saul 2009)

    K(u, v) = E[relu(u.x) relu(v.x)] = (|u||v| sin t + (pi - t) u.v) / (2 pi),

pair by pair in plain torch, so that ``torch.func`` differentiates it (``grad``, and
``jacrev`` twice for the Hessian). No clamping and no special cases except
K(u, u) = |u|^2 / 2: use it at points where no two distinct neurons are (anti)parallel,
where arccos is differentiable.
A Monte Carlo estimate of the same loss checks the closed form itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["ReluReference", "arccos_kernel", "monte_carlo_loss", "population_loss"]


def arccos_kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """K(u, v) for two vectors of shape (d,); a 0-dim tensor."""
    nu = torch.sqrt(u @ u)
    nv = torch.sqrt(v @ v)
    dot = u @ v
    t = torch.arccos(dot / (nu * nv))
    return (nu * nv * torch.sin(t) + (math.pi - t) * dot) / (2 * math.pi)


def _gram(U: torch.Tensor, Z: torch.Tensor, same: bool) -> list[list[torch.Tensor]]:
    return [
        [
            0.5 * (U[i] @ U[i]) if same and i == j else arccos_kernel(U[i], Z[j])
            for j in range(Z.shape[0])
        ]
        for i in range(U.shape[0])
    ]


def population_loss(
    W: torch.Tensor, a: torch.Tensor, V: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """1/2 a'K(W,W)a - a'K(W,V)b + 1/2 b'K(V,V)b for W (n, d), a (n,), V (k, d), b (k,)."""
    n, k = W.shape[0], V.shape[0]
    kww, kwv, kvv = _gram(W, W, True), _gram(W, V, False), _gram(V, V, True)
    total = W.new_zeros(())
    for i in range(n):
        for j in range(n):
            total = total + 0.5 * a[i] * a[j] * kww[i][j]
        for j in range(k):
            total = total - a[i] * b[j] * kwv[i][j]
    for i in range(k):
        for j in range(k):
            total = total + 0.5 * b[i] * b[j] * kvv[i][j]
    return total


@dataclass(frozen=True)
class ReluReference:
    """The loss as a function of one flat parameter row (layout of ``ReluTeacherStudent``:
    W row-major, then a when the second layer is trained), and its autograd derivatives.
    """

    V: torch.Tensor
    n: int
    train_second_layer: bool = False

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.V.shape[1]
        W = theta[: self.n * d].reshape(self.n, d)
        a = theta[self.n * d :] if self.train_second_layer else torch.ones_like(W[:, 0])
        return W, a

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        W, a = self.split(theta)
        b = torch.ones(self.V.shape[0], dtype=self.V.dtype)
        return population_loss(W, a, self.V, b)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.func.grad(self.loss)(theta)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        # reverse over reverse: torch.func.hessian's forward mode loads TorchScript
        # decompositions, whose DeprecationWarning is an error under our pytest settings
        return torch.func.jacrev(torch.func.jacrev(self.loss))(theta)


def monte_carlo_loss(
    W: torch.Tensor,
    a: torch.Tensor,
    V: torch.Tensor,
    m: int,
    *,
    generator: torch.Generator,
) -> tuple[float, float]:
    """Sample mean of 1/2 (f(x) - y)^2 over m draws x ~ N(0, I_d), and its standard error.

    The teacher's output weights are 1, as in ``ReluTeacherStudent``.
    """
    X = torch.randn(m, W.shape[1], generator=generator, dtype=W.dtype)
    r = torch.relu(X @ W.T) @ a - torch.relu(X @ V.T).sum(1)
    per = 0.5 * r * r
    return float(per.mean()), float(per.std() / math.sqrt(m))
