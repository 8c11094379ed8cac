"""One-hidden-layer regression with a planted teacher, one data set per run.

Zhong, Song, Jain, Bartlett & Dhillon (ICML 2017): x ~ N(0, I_d),
y = sum_{i<=k} v*_i phi(w*_i . x), and the student minimizes over W (v = v* known)

    f(W) = 1/(2n) sum_s (sum_i v_i phi(w_i . x_s) - y_s)^2.

Unlike the other problems, every run (row) may own its teacher and its sample: data are
tensors ``X (R, n, d)``, ``y (R, n)``, ``v (R, k)``; or one data set ``X (n, d)``,
``y (n,)``, ``v (k,)`` shared by any number of rows. ``select(rows)`` returns the problem
restricted to some runs, which is how optimizers that compact their working batch
(``landscope.optim.gd_armijo``) keep rows and data aligned.

``planted(d, k, kappa, seeds)`` draws teachers as in the paper's experiments:
W* = U diag(s) V' with U (k x k) and V (d x k) random orthonormal and singular values s
evenly spaced from 1 down to 1 / kappa (condition number kappa), v* random signs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .. import activations as acts
from .._validate import as_param_batch, check_finite

__all__ = ["OneHiddenRegression", "Planted", "planted", "recovery_error"]


@dataclass(frozen=True)
class Planted:
    """Teachers and samples of R runs: W (R, k, d), v (R, k), X (R, n, d), y (R, n)."""

    W: torch.Tensor
    v: torch.Tensor
    X: torch.Tensor
    y: torch.Tensor


def _orthonormal(rows: int, cols: int, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(rows, cols, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def planted(
    d: int,
    k: int,
    kappa: float,
    n: int,
    seeds: Sequence[int],
    activation: str = "relu",
    *,
    signs: bool = True,
) -> Planted:
    """One teacher and one sample of n Gaussian inputs per seed (float64, CPU).

    Row r depends only on ``seeds[r]``. ``signs=False`` makes every v*_i = +1.

    Raises:
        ValueError: k > d (the tensor method needs W* of full row rank), kappa < 1,
            n < 1, or an unknown activation.
    """
    if not (1 <= k <= d):
        raise ValueError(f"need 1 <= k <= d for a planted teacher; got k = {k}, d = {d}.")
    if not (math.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"the condition number kappa must be >= 1; got {kappa!r}.")
    if n < 1:
        raise ValueError(f"need at least one sample; got n = {n}.")
    act = acts.get(activation)
    s = torch.linspace(1.0, 1.0 / kappa, k, dtype=torch.float64)
    Ws, vs, Xs = [], [], []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        U = _orthonormal(k, k, gen)
        V = _orthonormal(d, k, gen)
        Ws.append(U @ torch.diag(s) @ V.T)
        sg = torch.randint(0, 2, (k,), generator=gen).to(torch.float64) * 2 - 1
        vs.append(sg if signs else torch.ones(k, dtype=torch.float64))
        Xs.append(torch.randn(n, d, generator=gen, dtype=torch.float64))
    W, v, X = torch.stack(Ws), torch.stack(vs), torch.stack(Xs)
    y = (act.phi(X @ W.transpose(1, 2)) * v[:, None, :]).sum(-1)
    return Planted(W=W, v=v, X=X, y=y)


class OneHiddenRegression:
    """f(W) = 1/(2n) sum_s (sum_i v_i phi(w_i . x_s) - y_s)^2 for R runs, each its own data.

    Parameters are rows theta (R, k d) (W flattened row-major); the second layer v is
    fixed. ``global_min`` is 0: the data are noiseless and realizable.

    Capabilities: ``RowData`` (``select``) and ``Residuals`` (r = e / sqrt(n), e the
    errors, so the loss is |r|^2 / 2).
    """

    global_min = 0.0
    # Permuting neurons i, j keeps the loss only where v_i = v_j: the stabilizer of each
    # row's own v in S_k, which differs from row to row (and is not S_k when v has both
    # signs), and W is not given as a ``split`` block. No one group: None.
    symmetry: str | None = None

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        v: torch.Tensor,
        activation: str | acts.Activation = "relu",
    ) -> None:
        self.shared = X.ndim == 2
        if self.shared:  # one data set for every row: any number of rows
            if y.ndim != 1 or v.ndim != 1:
                raise ValueError("with shared data X (n, d), need y (n,) and v (k,).")
            X, y, v = X[None], y[None], v[None]
        if X.ndim != 3 or y.ndim != 2 or v.ndim != 2:
            raise ValueError(
                "need X (R, n, d), y (R, n) and v (R, k), or X (n, d), y (n,) and v (k,)."
            )
        R, n, d = X.shape
        if y.shape != (R, n) or v.shape[0] != R:
            raise ValueError(
                f"X {tuple(X.shape)}, y {tuple(y.shape)} and v {tuple(v.shape)} disagree."
            )
        check_finite("X", X)
        check_finite("y", y)
        check_finite("v", v)
        self.X, self.y, self.v = X, y.to(X.dtype), v.to(X.dtype)
        self.activation = acts.get(activation)
        self.k, self.d, self.n = v.shape[1], d, n
        self.n_params = self.k * d
        self.dtype, self.device = X.dtype, X.device

    def select(self, rows: torch.Tensor) -> OneHiddenRegression:
        """The same problem for runs ``rows`` only (no re-validation: a hot path)."""
        if self.shared:
            return self
        out = object.__new__(OneHiddenRegression)
        out.__dict__.update(self.__dict__)
        out.X, out.y, out.v = self.X[rows], self.y[rows], self.v[rows]
        return out

    def _check(self, theta: torch.Tensor) -> torch.Tensor:
        rows_ok = self.shared or theta.shape[0] == self.X.shape[0]
        if theta.ndim != 2 or theta.shape[1] != self.n_params or not rows_ok:
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}; this problem takes "
                f"({self.X.shape[0]}, {self.n_params})."
            )
        return theta.reshape(-1, self.k, self.d)

    def _errors(self, theta: torch.Tensor) -> torch.Tensor:
        """e_s = sum_i v_i phi(w_i . x_s) - y_s, (R, n)."""
        W = self._check(theta)
        return (self.activation.phi(self.X @ W.transpose(1, 2)) * self.v[:, None, :]).sum(
            -1
        ) - self.y

    def _forward(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """X (R, n, d), Z = X W' (R, n, k), v (R, k) and the errors e (R, n), for R rows.

        Shared data are broadcast to the R rows of ``theta`` (checked by ``_check``).
        """
        W = self._check(theta)
        R, k = W.shape[:2]
        X = self.X.expand(R, *self.X.shape[1:]) if self.shared else self.X
        Z = X @ W.transpose(1, 2)  # (R, n, k)
        v = self.v.expand(R, k) if self.shared else self.v
        e = (self.activation.phi(Z) * v[:, None, :]).sum(-1) - self.y
        return X, Z, v, e

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """r = e / sqrt(n), (R, n): the loss is |r|^2 / 2."""
        return self._errors(theta) / math.sqrt(self.n)

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r (R, n) and J = dr/dtheta (R, n, k d): block i of J_s is v_i phi'(z_si) x_s."""
        X, Z, v, e = self._forward(theta)
        R, k, d = theta.shape[0], self.k, self.d
        A = self.activation.dphi(Z) * v[:, None, :]
        J = (A[..., None] * X[:, :, None, :]).reshape(R, self.n, k * d)
        scale = 1.0 / math.sqrt(self.n)
        return e * scale, J * scale

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * self._errors(theta).square().mean(-1)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        W = self._check(theta)
        Z = self.X @ W.transpose(1, 2)  # (R, n, k)
        e = (self.activation.phi(Z) * self.v[:, None, :]).sum(-1) - self.y
        G = (e[:, :, None] * self.activation.dphi(Z) * self.v[:, None, :]).transpose(1, 2) @ self.X
        return 0.5 * e.square().mean(-1), (G / self.n).reshape(theta.shape)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense Hessians (R, P, P) in closed form (P = k d).

        With z_si = w_i . x_s, e_s the residual and J_s the gradient of the network output
        (block i: v_i phi'(z_si) x_s),

            H = 1/n sum_s J_s J_s' + blockdiag_i( 1/n sum_s e_s v_i phi''(z_si) x_s x_s' ).

        Tested against ``torch.func.hessian`` of the loss.
        """
        X, Z, v, e = self._forward(theta)
        R, k, d = theta.shape[0], self.k, self.d
        A = self.activation.dphi(Z) * v[:, None, :]  # (R, n, k)
        J = (A[..., None] * X[:, :, None, :]).reshape(R, self.n, k * d)
        H = J.transpose(1, 2) @ J
        C = e[:, :, None] * self.activation.ddphi(Z) * v[:, None, :]  # (R, n, k)
        blocks = torch.einsum("rsi,rsa,rsb->riab", C, X, X)  # (R, k, d, d)
        H = H.reshape(R, k, d, k, d)
        idx = torch.arange(k, device=H.device)
        H[:, idx, :, idx, :] += blocks.transpose(0, 1)
        return H.reshape(R, k * d, k * d) / self.n

    def hvp(self, theta: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
        """H @ vec for every row, without forming H: J'(J vec)/n plus the diagonal blocks."""
        X, Z, v, e = self._forward(theta)
        R, k, d = theta.shape[0], self.k, self.d
        V = vec.reshape(R, k, d)
        ZV = X @ V.transpose(1, 2)  # (R, n, k): x_s . V_i
        A = self.activation.dphi(Z) * v[:, None, :]
        Jv = (A * ZV).sum(-1)  # (R, n)
        C = e[:, :, None] * self.activation.ddphi(Z) * v[:, None, :]
        coef = A * Jv[:, :, None] + C * ZV  # (R, n, k)
        return (coef.transpose(1, 2) @ X).reshape(vec.shape) / self.n

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Random rows: every w_i ~ N(0, I / d) (norm about 1, like the teachers')."""
        th = torch.randn(R, self.n_params, generator=generator, dtype=self.dtype)
        return (th / math.sqrt(self.d)).to(device or self.device)

    def as_batch(self, theta: object) -> torch.Tensor:
        """A point (P,) or batch (R, P) as (R, P) in the problem's dtype.

        Raises:
            ValueError: for any other shape.
        """
        return as_param_batch(theta, self.n_params, dtype=self.dtype, device=self.device)


def recovery_error(
    W: torch.Tensor,
    v: torch.Tensor,
    W_star: torch.Tensor,
    v_star: torch.Tensor,
    activation: str | acts.Activation = "relu",
) -> torch.Tensor:
    """||W - W*||_F / ||W*||_F modulo the model's symmetries, per run (R,).

    Students and teachers are matched neuron to neuron by optimal assignment (scipy's
    linear_sum_assignment); a student neuron can stand for a teacher neuron of the same
    output sign v, or, for odd activations, for the negated neuron of the opposite sign
    ((v, w) and (-v, -w) compute the same function). A sign that cannot match costs the
    distance to the teacher neuron plus the teacher neuron's norm, so a wrong sign never
    counts as recovered.
    """
    act = acts.get(activation)
    odd = acts.is_odd(act)
    W, W_star = W.detach().cpu().double(), W_star.detach().cpu().double()
    v, v_star = v.detach().cpu().double(), v_star.detach().cpu().double()
    same = v[:, :, None] * v_star[:, None, :] > 0  # (R, k, k)
    d_plus = torch.cdist(W, W_star).square()
    if odd:
        d_minus = torch.cdist(W, -W_star).square()
        cost = torch.where(same, d_plus, d_minus)
    else:
        pen = (torch.linalg.vector_norm(W_star, dim=-1) ** 2)[:, None, :]
        cost = torch.where(same, d_plus, d_plus + pen)
    out = np.empty(W.shape[0])
    for r, c in enumerate(cost.numpy()):  # O(k^3) per run, after training: not a hot path
        rows, cols = linear_sum_assignment(c)
        out[r] = math.sqrt(c[rows, cols].sum())
    norm = torch.linalg.vector_norm(W_star.flatten(1), dim=1).numpy()
    return torch.from_numpy(out / norm)
