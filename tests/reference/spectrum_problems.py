"""Slow references and test problems for the spectrum room.

* ``MatrixProblem``: the quadratic form 1/2 theta' H theta of a fixed symmetric H with
  chosen eigenvalues, so that every estimate has an exact answer (tr H, tr H^p, eig H).
* ``mlp_module`` / ``mlp_flat_loss``: a small tanh MLP as an ``nn.Module`` (for
  ``ModuleLoss``) and the same network written by hand as a function of the flat
  parameter row, whose dense Hessian comes from ``torch.autograd.functional.hessian``
  (plain reverse-over-reverse autograd, no ``torch.func``): an independent reference for
  ``ModuleLoss.hvp`` and everything built on it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

__all__ = [
    "MatrixProblem",
    "matrix_with_eigenvalues",
    "mlp_data",
    "mlp_flat_hessian",
    "mlp_flat_loss",
    "mlp_case",
    "mlp_module",
    "relu_case",
]

DT = torch.float64


def matrix_with_eigenvalues(eigs: torch.Tensor, seed: int) -> torch.Tensor:
    """Q diag(eigs) Q' with a seeded random orthogonal Q, exactly symmetric."""
    P = eigs.shape[0]
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=gen, dtype=DT))
    H = (Q * eigs) @ Q.T
    return 0.5 * (H + H.T)


@dataclass(frozen=True, eq=False)
class MatrixProblem:
    """f(theta) = 1/2 theta' H theta for every row: the Hessian is H everywhere."""

    H: torch.Tensor
    global_min: float | None = None
    dtype: torch.dtype = DT
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    calls: list = field(default_factory=list)  # rows per hvp call, to check the batching

    @property
    def n_params(self) -> int:
        return int(self.H.shape[0])

    def as_batch(self, theta: object) -> torch.Tensor:
        t = torch.as_tensor(theta, dtype=self.dtype)
        t = t[None] if t.dim() == 1 else t
        assert t.dim() == 2 and t.shape[1] == self.n_params, t.shape
        return t

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((theta @ self.H) * theta).sum(1)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return theta @ self.H

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(theta), self.grad(theta)

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        assert theta.shape == v.shape and theta.dim() == 2, (theta.shape, v.shape)
        self.calls.append(theta.shape[0])
        return v @ self.H

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        return self.H.expand(theta.shape[0], -1, -1).clone()

    def init(self, R: int, *, generator=None, device=None) -> torch.Tensor:
        return torch.randn(R, self.n_params, generator=generator, dtype=self.dtype)


# ------------------------------------------------------------------------- small MLP
D_IN, HIDDEN, D_OUT, M = 3, 4, 2, 20


def mlp_module() -> torch.nn.Module:
    torch_gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(D_IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, D_OUT)
    ).to(DT)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=torch_gen, dtype=DT))
    return net


def mlp_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(M, D_IN, generator=gen, dtype=DT)
    y = torch.randn(M, D_OUT, generator=gen, dtype=DT)
    return X, y


def mlp_flat_loss(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The MLP's 1/(2m) sum ||f(x) - y||^2 from one flat row (nn.Sequential's order)."""
    sizes = [HIDDEN * D_IN, HIDDEN, D_OUT * HIDDEN, D_OUT]
    W1, b1, W2, b2 = torch.split(theta, sizes)
    h = torch.tanh(X @ W1.reshape(HIDDEN, D_IN).T + b1)
    out = h @ W2.reshape(D_OUT, HIDDEN).T + b2
    return 0.5 * ((out - y) ** 2).sum(1).mean()


def mlp_flat_hessian(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(R, P, P): one plain autograd Hessian per row, in a Python loop."""
    return torch.stack(
        [torch.autograd.functional.hessian(lambda t: mlp_flat_loss(t, X, y), row) for row in theta]
    )


# ------------------------------------------------------------------ ReLU teacher-student
@functools.cache  # the pair-by-pair reference Hessian takes seconds; callers must not mutate
def relu_case(R: int = 3, seed: int = 0):
    """ReluTeacherStudent(k=3, n=4, trained a; P = 16) at R generic rows, with the
    reference Hessians of ``reference.relu_autograd`` (R, P, P).

    Gaussian W has no two neurons parallel (almost surely), where the reference's arccos is
    differentiable; a = 1 + 0.5 N(0, 1).
    """
    from landscope.problems import ReluTeacherStudent

    from .relu_autograd import ReluReference

    prob = ReluTeacherStudent(k=3, n=4, train_second_layer=True)
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(R, prob.n, prob.d, generator=gen, dtype=DT) / prob.d**0.5
    a = 1.0 + 0.5 * torch.randn(R, prob.n, generator=gen, dtype=DT)
    theta = prob.join(W, a)
    ref = ReluReference(V=prob.V, n=prob.n, train_second_layer=True)
    H = torch.stack([ref.hessian(row) for row in theta])
    return prob, theta, 0.5 * (H + H.transpose(1, 2))


@functools.cache
def mlp_case(R: int = 3, seed: int = 0):
    """ModuleLoss of the tanh MLP (P = 26) at R rows (the module's point and R - 1 draws
    of its init), with the hand-written reference Hessians (R, P, P)."""
    from landscope.problems import ModuleLoss

    X, y = mlp_data(seed)
    prob = ModuleLoss(mlp_module(), X, y)
    gen = torch.Generator().manual_seed(seed + 100)
    theta = torch.cat([prob.current_point(), prob.init(R - 1, generator=gen)])
    H = mlp_flat_hessian(theta, prob.X, prob.y)
    return prob, theta, 0.5 * (H + H.transpose(1, 2))
