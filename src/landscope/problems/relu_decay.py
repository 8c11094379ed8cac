"""Two-layer ReLU network with weight decay, the non-convex side of Pilanci & Ergen's program.

For a row theta = (U, alpha), U (m, d) (row-major, one neuron u_j per row), alpha (m,),

    f(x) = sum_{j <= m} alpha_j (u_j . x)_+,
    L(theta) = 1/2 sum_{s <= n} (f(x_s) - y_s)^2  +  beta/2 sum_j (||u_j||^2 + alpha_j^2),

over R rows at once: the objective of M. Pilanci and T. Ergen, "Neural networks are convex
regularizers: exact polynomial-time convex optimization formulations for two-layer
networks" (ICML 2020), whose optimal value p* equals that of a convex program once m is
large enough (``landscope.convex.fit_relu`` solves it). There is no 1/n in front of the
squared error: this is the scaling under which the two values agree, and the convex
solver relies on it. A first-layer bias is a column of ones appended to X.

The data are one sample X (n, d), y (n,) shared by any number of rows, or one sample per
row, X (R, n, d), y (R, n); ``select(rows)`` restricts a problem with per-row data to some
runs (as ``TwoLayerRegression`` does).

Derivatives in closed form, with z_sj = u_j . x_s, e_s = f(x_s) - y_s, D_sj = relu'(z_sj)
and J_s the gradient of f(x_s) (blocks alpha_j D_sj x_s for u_j and (z_sj)_+ for alpha_j):

    grad = sum_s e_s J_s + beta theta,
    H    = sum_s J_s J_s' + beta I + sum_s e_s d^2 f(x_s),

where d^2 f(x_s) has the blocks D_sj x_s at (u_j, alpha_j) and (alpha_j, u_j) and is zero
elsewhere (relu'' = 0). The loss is least squares with the residuals
r = [e ; sqrt(beta) theta] (n + P of them): L = |r|^2 / 2 exactly. Kinks follow torch's
convention (relu'(0) = 0), as autograd would; in particular a dead neuron u_j = 0,
alpha_j = 0 has zero gradient in its coordinates and the Hessian block beta I there.

Symmetry: permuting the neurons (rows of U with the entries of alpha) keeps L (``"Sn"``).
The positive rescaling u_j -> c u_j, alpha_j -> alpha_j / c keeps f but not the penalty,
so it is no symmetry here; instead every critical point is balanced, ||u_j|| = |alpha_j|
(the derivative of the penalty along the rescaling, at c = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ._rows import RowSamples

__all__ = ["ReluWeightDecay"]


@dataclass(frozen=True, eq=False)
class ReluWeightDecay(RowSamples):
    """1/2 ||sum_j alpha_j (X u_j)_+ - y||^2 + beta/2 (||U||^2 + ||alpha||^2), R runs at once.

    Args:
        X: inputs, (n, d) shared by every row, or (R, n, d) one sample per run.
        y: labels, (n,) or (R, n) to match.
        width: m, the hidden neurons.
        beta: the weight decay, a finite number > 0 (the convex theory needs beta > 0).
        init_scale: s of the default init (see ``init``).
        global_min: the optimal value p* when the caller knows it (from the convex program,
            ``landscope.convex.fit_relu``, for a width m at least the convex solution's
            number of neurons); else None. It needs shared data (one p* for every row).

    Raises:
        ValueError: for X and y of shapes that do not match, NaN or infinity in them, a
            non-floating X, width < 1, beta or init_scale not a positive number, or a
            global_min that is not a finite number >= 0 or comes with per-row data.

    Attributes:
        n, d: samples per run and input dimension.
        n_params: P = m (d + 1) (U row-major, then alpha).
        shared: whether one sample serves every row.
        symmetry: ``"Sn"``: permuting the neurons (rows of U with alpha) keeps the loss.
            The rescaling (u_j, alpha_j) -> (c u_j, alpha_j / c) is not a symmetry: weight
            decay breaks it.

    Capabilities: ``RowData`` (``select``), ``Residuals`` (r = [e ; sqrt(beta) theta]) and
    ``Factored`` (``split`` into U, alpha). Not ``KnownOptimum``, even with ``global_min``:
    the set of global minimizers is not known in closed form (a wide net has a continuum of
    them, neurons split in parallel copies), so there is no ``distance_to_global``; the
    value ``global_min`` is what certificates compare losses to.
    """

    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    width: int
    beta: float
    init_scale: float = 1.0
    global_min: float | None = None

    symmetry = "Sn"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        X, y = self._store_samples(self.X, self.y)
        w = self.width
        self._store_decay(" (the convex reformulation needs weight decay)")
        set_(self, "n_params", w * (self.d + 1))

    # ----------------------------------------------------------------- layout
    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(R, P) -> U (R, m, d), alpha (R, m), views into ``theta``."""
        md = self.width * self.d
        return theta[:, :md].reshape(theta.shape[0], self.width, self.d), theta[:, md:]

    def join(
        self, U: torch.Tensor | tuple[torch.Tensor, torch.Tensor], alpha: torch.Tensor | None = None
    ) -> torch.Tensor:
        """U (R, m, d), alpha (R, m) -> (R, P); also ``join(split(theta))``.

        One network, U (m, d) and alpha (m,) (as ``landscope.convex`` gives its weights once
        padded to m neurons), becomes one row (1, P).

        Raises:
            ValueError: for blocks that do not fit this problem's width and dimension.
        """
        if alpha is None:
            U, alpha = U
        U, alpha = torch.as_tensor(U), torch.as_tensor(alpha)
        m, d = self.width, self.d
        if U.dim() == 2 and alpha.dim() == 1:
            U, alpha = U[None], alpha[None]
        if U.dim() != 3 or tuple(U.shape[1:]) != (m, d) or tuple(alpha.shape) != (U.shape[0], m):
            raise ValueError(
                f"U {tuple(U.shape)} and alpha {tuple(alpha.shape)} do not fit: need "
                f"U (R, {m}, {d}) and alpha (R, {m}), or U ({m}, {d}) and alpha ({m},)."
            )
        return self._cat(U, alpha)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R rows: u_j ~ N(0, s^2 / d I), alpha_j ~ N(0, s^2 / m) (s = ``init_scale``).

        U (all rows) is drawn before alpha, on the CPU, so a row drawn alone from a
        generator is the generator's next m d + m normal numbers, in that order.
        """
        m, d = self.width, self.d
        U = torch.randn(R, m, d, generator=generator, dtype=self.dtype)
        alpha = torch.randn(R, m, generator=generator, dtype=self.dtype)
        U = U * self.init_scale / math.sqrt(d)
        alpha = alpha * self.init_scale / math.sqrt(m)
        return self._cat(U, alpha).to(device or self.device)

    # ------------------------------------------------------------- the model
    def predict(self, theta: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """The nets' outputs f(x) at inputs X (R, n', d) or (n', d) (default: the sample).

        Returns:
            (R, n').
        """
        U, alpha = self._rows(theta)
        X = self.X if X is None else X
        return (torch.relu(X @ U.transpose(-1, -2)) @ alpha[..., None])[..., 0]

    def _forward(self, theta: torch.Tensor):
        U, alpha = self._rows(theta)
        Z = self.X @ U.transpose(1, 2)  # (R, n, m)
        A = torch.relu(Z)
        e = (A @ alpha[..., None])[..., 0] - self.y  # (R, n)
        return U, alpha, Z, A, e

    def _X(self, R: int) -> torch.Tensor:
        return self.X.expand(R, self.n, self.d) if self.shared else self.X

    def _loss(self, theta: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return 0.5 * e.square().sum(1) + 0.5 * self.beta * theta.square().sum(1)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L of each row: (R,)."""
        return self._loss(theta, self._forward(theta)[-1])

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L (R,) and its gradient (R, P) in one pass."""
        U, alpha, Z, A, e = self._forward(theta)
        D = (Z > 0).to(Z.dtype)  # relu'(z), 0 at the kink as autograd
        gU = ((e[..., None] * D) * alpha[:, None, :]).transpose(1, 2) @ self.X
        ga = (A.transpose(1, 2) @ e[..., None])[..., 0]
        return self._loss(theta, e), self._cat(gU, ga) + self.beta * theta

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of each row: (R, P)."""
        return self.loss_and_grad(theta)[1]

    def _fit_jacobian(self, theta: torch.Tensor):
        U, alpha, Z, A, e = self._forward(theta)
        R, m, d = U.shape
        D = (Z > 0).to(Z.dtype)
        JU = (D * alpha[:, None, :])[..., None] * self._X(R)[:, :, None, :]  # (R, n, m, d)
        return e, torch.cat([JU.reshape(R, self.n, m * d), A], dim=2), D

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """r = [e ; sqrt(beta) theta], (R, n + P): the loss is |r|^2 / 2."""
        e = self._forward(theta)[-1]
        return torch.cat([e, math.sqrt(self.beta) * theta], dim=1)

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r (R, n + P) and J = dr/dtheta (R, n + P, P): the fit's rows, then sqrt(beta) I."""
        e, Je, _ = self._fit_jacobian(theta)
        R, P = theta.shape
        c = math.sqrt(self.beta)
        eye = torch.eye(P, dtype=Je.dtype, device=Je.device).expand(R, P, P) * c
        return torch.cat([e, c * theta], dim=1), torch.cat([Je, eye], dim=1)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense Hessians (R, P, P) in closed form (see the module docstring)."""
        e, Je, D = self._fit_jacobian(theta)
        R, P = theta.shape
        m, d = self.width, self.d
        md = m * d
        H = Je.transpose(1, 2) @ Je  # sum_s J_s J_s'
        H.diagonal(dim1=1, dim2=2).add_(self.beta)
        C = (e[..., None] * D).transpose(1, 2) @ self._X(R)  # (R, m, d): (u_j, alpha_j)
        idx = torch.arange(m, device=H.device)
        cross = torch.zeros(R, m, d, m, dtype=H.dtype, device=H.device)
        cross[:, idx, :, idx] = C.transpose(0, 1)
        cross = cross.reshape(R, md, m)
        H[:, :md, md:] += cross
        H[:, md:, :md] += cross.transpose(1, 2)
        return H

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H v for every row, without forming H: (R, P)."""
        U, alpha, Z, A, e = self._forward(theta)
        if v.shape != theta.shape:
            raise ValueError(f"v has shape {tuple(v.shape)}; give one vector per row of theta.")
        Vu, va = self.split(v)
        X = self._X(U.shape[0])
        D = (Z > 0).to(Z.dtype)
        Da = D * alpha[:, None, :]  # (R, n, m)
        Jv = (Da * (X @ Vu.transpose(1, 2))).sum(2) + (A @ va[..., None])[..., 0]  # (R, n)
        C = (e[..., None] * D).transpose(1, 2) @ X  # (R, m, d)
        hU = (Jv[..., None] * Da).transpose(1, 2) @ X + C * va[..., None]
        ha = (A.transpose(1, 2) @ Jv[..., None])[..., 0] + (C * Vu).sum(2)
        return self._cat(hU, ha) + self.beta * v
