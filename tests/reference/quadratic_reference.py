"""Slow references for shallow quadratic networks (``landscope.problems.quadratic``).

A network with h hidden units computes

    f(x) = sum_j a_j (w_j . x)^2 + g |x|^2,

and its loss is 1/2 the mean (or expectation) of (f(x) - y)^2, plus, for the
``"orthogonal"`` variant, ``penalty * sum_{i,k} (w_i . w_k - [i = k])^2`` over pairs of
rows (h <= d) or of columns (h > d) of W.

Everything here is written from that definition for one (unbatched) parameter row,
without the lifted matrix M = W' diag(a) W, so that ``torch.func`` can differentiate it:

- ``sample_loss``: the residual of every sample from the unit outputs (w_j . x)^2.
- ``population_loss``: y = x'A x is, by A's eigen-decomposition, sum_k l_k (v_k . x)^2,
  and |x|^2 = sum_k (e_k . x)^2, so f(x) - y = sum_i c_i (u_i . x)^2 over a list of
  vectors u_i. For x ~ N(0, I), Isserlis' theorem gives, pair by pair,

      E[(u.x)^2 (v.x)^2] = |u|^2 |v|^2 + 2 (u.v)^2.

- ``slow_sample_loss``: plain Python floats, a loop per sample and per unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "QuadraticReference",
    "network_output",
    "orthogonality_penalty",
    "population_loss",
    "sample_loss",
    "slow_sample_loss",
]


def network_output(W: torch.Tensor, a: torch.Tensor, g: torch.Tensor, X: torch.Tensor):
    """f(x) for every row x of X (m, d): sum_j a_j (w_j . x)^2 + g |x|^2, (m,)."""
    proj = X @ W.T  # (m, h): w_j . x
    return (proj * proj) @ a + g * (X * X).sum(1)


def orthogonality_penalty(W: torch.Tensor) -> torch.Tensor:
    """sum over pairs of rows (h <= d) or columns (h > d) of (inner product - [same])^2."""
    h, d = W.shape
    vecs = W if h <= d else W.T
    n = vecs.shape[0]
    total = W.new_zeros(())
    for i in range(n):
        for k in range(n):
            total = total + (vecs[i] @ vecs[k] - (1.0 if i == k else 0.0)) ** 2
    return total


def sample_loss(W, a, g, X, y) -> torch.Tensor:
    """1/(2m) sum_i (f(x_i) - y_i)^2."""
    r = network_output(W, a, g, X) - y
    return 0.5 * (r * r).mean()


def population_loss(W, a, g, A) -> torch.Tensor:
    """1/2 E[(f(x) - x'A x)^2] for x ~ N(0, I_d), pair by pair by Isserlis' theorem."""
    d = A.shape[0]
    lam, V = torch.linalg.eigh(A)  # A = sum_k lam_k v_k v_k'; A is data, not a parameter
    eye = torch.eye(d, dtype=W.dtype)
    U = torch.cat([W, eye, V.T])  # the vectors u_i
    c = torch.cat([a, g * torch.ones(d, dtype=W.dtype), -lam])  # their coefficients
    total = W.new_zeros(())
    for i in range(U.shape[0]):
        for k in range(U.shape[0]):
            moment = (U[i] @ U[i]) * (U[k] @ U[k]) + 2 * (U[i] @ U[k]) ** 2
            total = total + c[i] * c[k] * moment
    return 0.5 * total


def slow_sample_loss(W, a, g, X, y, *, variant: str, penalty: float) -> float:
    """The sample loss (with the penalty) in plain Python floats, one sample at a time."""
    W, a, X, y = W.tolist(), a.tolist(), X.tolist(), y.tolist()
    g = float(g)
    h, m = len(W), len(X)
    total = 0.0
    for i in range(m):
        x = X[i]
        f = g * sum(t * t for t in x)
        for j in range(h):
            p = sum(wk * xk for wk, xk in zip(W[j], x, strict=True))
            f += a[j] * p * p
        total += (f - y[i]) ** 2
    loss = total / (2 * m)
    if variant == "orthogonal":
        d = len(W[0])
        vecs = W if h <= d else [[W[j][k] for j in range(h)] for k in range(d)]
        for i, u in enumerate(vecs):
            for k, v in enumerate(vecs):
                dot = sum(s * t for s, t in zip(u, v, strict=True))
                loss += penalty * (dot - (1.0 if i == k else 0.0)) ** 2
    return loss


@dataclass(frozen=True)
class QuadraticReference:
    """The loss of one flat parameter row (layout of ``QuadraticNet``: W row-major (h*d),
    then a (h), then g for ``added_norm``), on samples (X, y) or, when ``A`` is given,
    in the population; and its autograd derivatives.
    """

    h: int
    d: int
    variant: str
    penalty: float = 1.0
    X: torch.Tensor | None = None
    y: torch.Tensor | None = None
    A: torch.Tensor | None = None

    def split(self, theta: torch.Tensor):
        hd = self.h * self.d
        W = theta[:hd].reshape(self.h, self.d)
        a = theta[hd : hd + self.h]
        g = theta[hd + self.h] if self.variant == "added_norm" else theta.new_zeros(())
        return W, a, g

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        W, a, g = self.split(theta)
        if self.A is not None:
            fit = population_loss(W, a, g, self.A)
        else:
            fit = sample_loss(W, a, g, self.X, self.y)
        if self.variant == "orthogonal":
            fit = fit + self.penalty * orthogonality_penalty(W)
        return fit

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.func.grad(self.loss)(theta)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        # reverse over reverse: torch.func.hessian's forward mode loads TorchScript
        # decompositions, whose DeprecationWarning is an error under our pytest settings
        return torch.func.jacrev(torch.func.jacrev(self.loss))(theta)
