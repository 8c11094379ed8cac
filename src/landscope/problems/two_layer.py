"""Two-layer regression with both layers and an output bias trained, one data set per run.

For a row theta = (W, b, c), W (m, d) (row-major), b (m,), c a scalar,

    f(x) = sum_{r <= m} b_r phi(w_r . x) + c,
    L(theta) = 1/(2n) sum_{s <= n} (f(x_s) - y_s)^2,

over R rows at once. Every row may own its sample (``X (R, n, d)``, ``y (R, n)``), or one
sample ``X (n, d)``, ``y (n,)`` is shared by any number of rows; ``select(rows)`` restricts
a problem with per-row data to some runs, which is how the optimization driver keeps rows
and data aligned when it compacts its batch. It is the net of Li, Ma & Zhang's experiments
("Learning over-parametrized two-layer ReLU networks beyond NTK", COLT 2020), trained there
from a small init.

Derivatives in closed form, with z_sr = w_r . x_s, e_s = f(x_s) - y_s and J_s the gradient
of f(x_s) (blocks b_r phi'(z_sr) x_s, phi(z_sr) and 1):

    grad = 1/n sum_s e_s J_s,
    H    = 1/n sum_s J_s J_s'  +  1/n sum_s e_s d^2 f(x_s),

where d^2 f(x_s) has the blocks b_r phi''(z_sr) x_s x_s' (w_r, w_r) and phi'(z_sr) x_s
(w_r, b_r) and is zero elsewhere. Kinks follow torch's convention (relu'(0) = 0,
relu'' = 0), as autograd would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .. import activations as acts
from ._rows import RowSamples

__all__ = ["TwoLayerRegression"]


@dataclass(frozen=True, eq=False)
class TwoLayerRegression(RowSamples):
    """f(x) = sum_r b_r phi(w_r . x) + c fit to (X, y) by least squares, R runs at once.

    Args:
        X: inputs, (R, n, d) one sample per run, or (n, d) shared by every row.
        y: labels, (R, n) or (n,) to match.
        width: m, the hidden neurons.
        activation: a registered name or an ``Activation`` (default relu).
        init_scale: s of the default init (see ``init``).

    Raises:
        ValueError: for X and y of shapes that do not match, NaN or infinity in them, a
            non-floating X, width < 1 or init_scale not a positive number.

    Attributes:
        n, d: samples per run and input dimension.
        n_params: P = m d + m + 1 (W row-major, then b, then c).
        shared: whether one sample serves every row.
        global_min: None (unknown; 0 when the labels are realizable by the net).
        symmetry: ``"Sn"``: permuting the hidden neurons (rows of W with b) keeps the loss.

    Capabilities: ``RowData`` (``select``), ``Residuals`` (r = e / sqrt(n)) and
    ``Factored`` (``split`` into W, b, c).
    """

    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    width: int
    activation: str | acts.Activation = "relu"
    init_scale: float = 1.0

    global_min = None
    symmetry = "Sn"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        X, y = self._store_samples(self.X, self.y)
        w = self.width
        s = self.init_scale
        number = isinstance(s, (int, float)) and not isinstance(s, bool)
        if not (number and math.isfinite(s) and s > 0):
            raise ValueError(f"init_scale must be a positive number, got {s!r}.")
        set_(self, "activation", acts.get(self.activation))
        set_(self, "n_params", w * self.d + w + 1)

    # ----------------------------------------------------------------- layout
    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(R, P) -> W (R, m, d), b (R, m), c (R, 1), views into ``theta``."""
        m, md = self.width, self.width * self.d
        R = theta.shape[0]
        return theta[:, :md].reshape(R, m, self.d), theta[:, md : md + m], theta[:, md + m :]

    def join(
        self,
        W: torch.Tensor | tuple[torch.Tensor, ...],
        b: torch.Tensor | None = None,
        c: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """W (R, m, d), b (R, m), c (R, 1) or (R,) -> (R, P); also ``join(split(theta))``."""
        if b is None:
            W, b, c = W
        R = W.shape[0]
        return torch.cat([W.reshape(R, -1), b.reshape(R, -1), c.reshape(R, 1)], dim=1)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R rows: w_r ~ N(0, s^2 / d I), b_r ~ N(0, s^2 / m), c = 0 (s = ``init_scale``).

        W (all rows) is drawn before b, so a row drawn alone from a generator is the
        generator's next m d + m normal numbers, in that order.
        """
        m, d = self.width, self.d
        W = torch.randn(R, m, d, generator=generator, dtype=self.dtype)
        b = torch.randn(R, m, generator=generator, dtype=self.dtype)
        W = W * self.init_scale / math.sqrt(d)
        b = b * self.init_scale / math.sqrt(m)
        c = torch.zeros(R, 1, dtype=self.dtype)
        return self.join(W, b, c).to(device or self.device)

    # ------------------------------------------------------------- the model
    def predict(self, theta: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """The nets' outputs f(x) at inputs X (R, n', d) or (n', d) (default: the sample).

        Returns:
            (R, n').
        """
        W, b, c = self._rows(theta)
        X = self.X if X is None else X
        A = self.activation.phi(X @ W.transpose(-1, -2))  # (R, n', m)
        return (A @ b[..., None])[..., 0] + c

    def _forward(self, theta: torch.Tensor):
        W, b, c = self._rows(theta)
        Z = self.X @ W.transpose(1, 2)  # (R, n, m)
        A = self.activation.phi(Z)
        e = (A @ b[..., None])[..., 0] + c - self.y  # (R, n)
        return W, b, Z, A, e

    def _X(self, R: int) -> torch.Tensor:
        return self.X.expand(R, self.n, self.d) if self.shared else self.X

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L of each row: (R,)."""
        return 0.5 * self._forward(theta)[-1].square().mean(1)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L (R,) and its gradient (R, P) in one pass."""
        W, b, Z, A, e = self._forward(theta)
        ge = e / self.n  # dL/df(x_s)
        gW = ((ge[..., None] * self.activation.dphi(Z)) * b[:, None, :]).transpose(1, 2) @ self.X
        gb = (A.transpose(1, 2) @ ge[..., None])[..., 0]
        gc = ge.sum(1, keepdim=True)
        return 0.5 * e.square().mean(1), self.join(gW, gb, gc)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of each row: (R, P)."""
        return self.loss_and_grad(theta)[1]

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """r = e / sqrt(n), (R, n): the loss is |r|^2 / 2."""
        return self._forward(theta)[-1] / math.sqrt(self.n)

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r (R, n) and J = dr/dtheta (R, n, P)."""
        W, b, Z, A, e = self._forward(theta)
        R, m, d = W.shape
        n = self.n
        JW = (self.activation.dphi(Z) * b[:, None, :])[..., None] * self._X(R)[:, :, None, :]
        ones = torch.ones(R, n, 1, dtype=e.dtype, device=e.device)
        J = torch.cat([JW.reshape(R, n, m * d), A, ones], dim=2)
        scale = 1.0 / math.sqrt(n)
        return e * scale, J * scale

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense Hessians (R, P, P) in closed form (see the module docstring)."""
        W, b, Z, A, e = self._forward(theta)
        R, m, d = W.shape
        md = m * d
        _, J = self.residuals_and_jacobian(theta)
        H = J.transpose(1, 2) @ J  # 1/n sum_s J_s J_s'
        X = self._X(R)
        ge = e / self.n
        C = (ge[..., None] * self.activation.dphi(Z)).transpose(1, 2) @ X  # (R, m, d): (w_r, b_r)
        idx = torch.arange(m, device=H.device)
        cross = torch.zeros(R, m, d, m, dtype=H.dtype, device=H.device)
        cross[:, idx, :, idx] = C.transpose(0, 1)
        cross = cross.reshape(R, md, m)
        H[:, :md, md : md + m] += cross
        H[:, md : md + m, :md] += cross.transpose(1, 2)
        D = ge[..., None] * self.activation.ddphi(Z) * b[:, None, :]  # (R, n, m)
        blocks = torch.einsum("rsi,rsa,rsb->riab", D, X, X)  # (R, m, d, d): (w_r, w_r)
        Hw = H[:, :md, :md].view(R, m, d, m, d)  # a view: the += lands in H
        Hw[:, idx, :, idx, :] += blocks.transpose(0, 1)
        return H

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H v for every row, without forming H: (R, P)."""
        W, b, Z, A, e = self._forward(theta)
        R, m, d = W.shape
        if v.shape != theta.shape:
            raise ValueError(f"v has shape {tuple(v.shape)}; give one vector per row of theta.")
        Vw, vb, vc = self.split(v)
        X = self._X(R)
        ZV = X @ Vw.transpose(1, 2)  # (R, n, m): x_s . v_{w_r}
        dphi = self.activation.dphi(Z)
        Bd = dphi * b[:, None, :]
        Jv = (Bd * ZV).sum(2) + (A @ vb[..., None])[..., 0] + vc  # (R, n)
        ge, gv = e / self.n, Jv / self.n
        coef = gv[..., None] * Bd + ge[..., None] * self.activation.ddphi(Z) * b[:, None, :] * ZV
        C = (ge[..., None] * dphi).transpose(1, 2) @ X  # (R, m, d)
        hW = coef.transpose(1, 2) @ X + C * vb[..., None]
        hb = (A.transpose(1, 2) @ gv[..., None])[..., 0] + (C * Vw).sum(2)
        hc = gv.sum(1, keepdim=True)
        return self.join(hW, hb, hc)
