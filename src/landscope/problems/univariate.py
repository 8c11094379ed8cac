"""Univariate two-layer ReLU networks, the setting of Williams et al. (NeurIPS 2019).

F. Williams, M. Trager, D. Panozzo, C. Silva, D. Zorin and J. Bruna, "Gradient dynamics
of shallow univariate ReLU networks" (NeurIPS 2019). For a row theta with per-neuron
parameters (a_i, b_i, c_i) and, optionally, a linear term (v, w), on samples x (n,), y (n,):

    f(x)     = sum_{i <= m} c_i relu(a_i x + b_i)  [+ v x + w],
    L(theta) = 1/2 sum_{s <= n} (f(x_s) - y_s)^2.

Neuron i has its knot (kink) at x = -b_i / a_i. Layout per row: the neurons' rows
[a_i, b_i, c_i] (m, 3) row-major, then (v, w) when ``linear``: P = 3 m (+ 2).

**Initializations** (``init``, by ``init_kind``), the two layers' scales set independently: with
sigma_w the scale of the first layer (a_i, b_i) and sigma_c that of c_i,

- ``"gaussian"``: a_i, b_i ~ N(0, sigma_w^2), c_i ~ N(0, sigma_c^2);
- ``"uniform"``: knots t_i ~ U[lo, hi] (an interval containing the data), a_i =
  +-sigma_w (random sign), b_i = -a_i t_i, c_i ~ N(0, sigma_c^2): knots uniformly spread
  with equal slopes |a_i|, the setting of the paper's cubic-spline statement;

and (v, w) = 0. The scales come from ``ratio`` = sigma_c / sigma_w (the per-neuron ratio of
the second layer to the first) and ``scale`` = m sigma_c sigma_w: sigma_w =
sqrt(scale / (m ratio)), sigma_c = sqrt(scale ratio / m). At init the tangent kernel's two
parts are sum_i relu(a_i x + b_i)^2 ~ m sigma_w^2 = scale / ratio (from c) and
sum_i c_i^2 (x^2 + 1) ~ m sigma_c^2 = scale ratio (from a, b), at every width: ratio^2 is
their quotient, so ratio << 1 is the kernel regime (the first layer hardly moves, the
knots stay put: the fit is kernel regression on the initial features) and ratio >> 1 the
adaptive one (the knots move). With ``symmetric`` (default) the neurons come in pairs
(a, b, c) and (a, b, -c) (m even), so the initial function is 0 (up to rounding) whatever
the scale (the "doubling trick" of the lazy-training literature); otherwise it is of size
scale / sqrt(m).

**Conservation.** Gradient flow keeps q_i = c_i^2 - a_i^2 - b_i^2 for every neuron
(d q_i / dt = -2 c_i sum_s e_s relu(z_si) + 2 c_i sum_s e_s relu'(z_si) z_si = 0);
gradient descent with step eta changes it by O(eta^2) per step (``conserved``).

Derivatives in closed form, with z_si = a_i x_s + b_i, D_si = 1[z_si > 0] (relu'(0) = 0,
as autograd) and e_s = f(x_s) - y_s: dL/dc_i = sum_s e_s relu(z_si), dL/da_i = c_i
sum_s e_s D_si x_s, dL/db_i = c_i sum_s e_s D_si, dL/dv = sum_s e_s x_s, dL/dw = sum_s e_s;
the Hessian is J'J + sum_s e_s d^2 f(x_s), whose only second-order blocks are
d^2 f / dc_i da_i = D_si x_s and d^2 f / dc_i db_i = D_si.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ._rows import RowSamples, _number

__all__ = ["INITS", "UnivariateReLU"]

INITS = ("gaussian", "uniform")


@dataclass(frozen=True, eq=False)
class UnivariateReLU(RowSamples):
    """f(x) = sum_i c_i relu(a_i x + b_i) [+ v x + w] fit to (x, y), R runs at once.

    Args:
        X: inputs (n,) or (n, 1) shared by every row, or (R, n) / (R, n, 1) one per run.
        y: targets (n,) or (R, n).
        width: m, the hidden neurons.
        linear: add the trained linear term v x + w (initialized at 0).
        init_kind: ``"gaussian"`` or ``"uniform"`` (see the module docstring).
        ratio: sigma_c / sigma_w, > 0.
        scale: m sigma_c sigma_w, > 0.
        symmetric: draw neurons in pairs (a, b, +-c), so f = 0 at init (needs m even).
        interval: (lo, hi) of the uniform knots (default: the data's range widened by half
            its length on each side).

    Raises:
        ValueError: bad data (shapes, NaN), width < 1 (or odd with ``symmetric``), an
            unknown init, ratio or scale not positive, an interval that is not lo < hi.

    Attributes:
        n_params: P = 3 m (+ 2 with ``linear``).
        symmetry: ``"Sn"``: permuting the neurons (rows [a_i, b_i] with c_i) keeps L.
        global_min: 0 when m >= n (m neurons with knots between the points interpolate
            any n distinct points), else None (unknown).

    Capabilities: ``RowData``, ``Residuals`` (r = e), ``Factored`` (``split``).
    """

    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    width: int
    linear: bool = False
    init_kind: str = "gaussian"
    ratio: float = 1.0
    scale: float = 1.0
    symmetric: bool = True
    interval: tuple[float, float] | None = None

    symmetry = "Sn"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        X = torch.as_tensor(self.X)
        if X.dim() == 1 or (X.dim() == 2 and torch.as_tensor(self.y).dim() == 2):
            X = X[..., None]
        self._store_samples(X, self.y)
        if self.d != 1:
            raise ValueError(f"x must be one-dimensional: got {self.d} features per sample.")
        if self.init_kind not in INITS:
            raise ValueError(
                f"init_kind must be one of {', '.join(INITS)}; got {self.init_kind!r}."
            )
        for name in ("ratio", "scale"):
            v = getattr(self, name)
            if not (_number(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}.")
            set_(self, name, float(v))
        if self.interval is None:
            lo, hi = float(self.X.min()), float(self.X.max())
            pad = 0.5 * max(hi - lo, 1e-12)
            set_(self, "interval", (lo - pad, hi + pad))
        else:
            lo, hi = (float(t) for t in self.interval)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"interval must be (lo, hi) with lo < hi, got {self.interval!r}.")
            set_(self, "interval", (lo, hi))
        if self.symmetric and self.width % 2:
            raise ValueError(
                f"symmetric init pairs the neurons: width must be even, got {self.width}."
            )
        set_(self, "global_min", 0.0 if self.width >= self.n else None)
        set_(self, "linear", bool(self.linear))
        set_(self, "symmetric", bool(self.symmetric))
        set_(self, "n_params", 3 * self.width + (2 if self.linear else 0))

    # ----------------------------------------------------------------- layout
    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(R, P) -> W = [a, b] (R, m, 2), c (R, m), linear (v, w) (R, 2 or 0): views."""
        m = self.width
        N = theta[:, : 3 * m].reshape(theta.shape[0], m, 3)
        return N[..., :2], N[..., 2], theta[:, 3 * m :]

    def parts(self, theta: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(a, b, c) (R, m) each, and the linear term (R, 2) (empty without ``linear``)."""
        W, c, lin = self._rows(theta)
        return W[..., 0], W[..., 1], c, lin

    def join(self, a: torch.Tensor, b: torch.Tensor | None = None, c: torch.Tensor | None = None,
             lin: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """(a, b, c) (R, m) [and (R, 2)] -> (R, P); one network (m,) [and (2,)] -> (1, P).

        Also one tuple: ``join(split(theta))`` (W, c, lin) and ``join(parts(theta))`` give
        theta back.

        Raises:
            ValueError: for blocks that do not fit the width (or a missing linear term).
        """
        if b is None and c is None and lin is None and isinstance(a, (tuple, list)):
            if len(a) == 3:  # split's (W (R, m, 2), c, lin)
                W = torch.as_tensor(a[0])
                if W.shape[-1:] != (2,):
                    raise ValueError(f"W must be (R, {self.width}, 2), got {tuple(W.shape)}.")
                a, b, c, lin = W[..., 0], W[..., 1], a[1], a[2]
            elif len(a) == 4:  # parts' (a, b, c, lin)
                a, b, c, lin = a
            else:
                raise ValueError(f"give (W, c, lin) or (a, b, c, lin); got {len(a)} blocks.")
        if b is None or c is None:
            raise ValueError("give a, b and c, or one tuple (W, c, lin) or (a, b, c, lin).")
        a, b, c = (torch.as_tensor(t) for t in (a, b, c))
        if a.dim() == 1:
            a, b, c = a[None], b[None], c[None]
            lin = None if lin is None else torch.as_tensor(lin)[None]
        m = self.width
        if not (a.shape == b.shape == c.shape and a.dim() == 2 and a.shape[1] == m):
            raise ValueError(f"a, b, c must each be (R, {m}) or ({m},), got "
                             f"{tuple(a.shape)}, {tuple(b.shape)}, {tuple(c.shape)}.")  # fmt: skip
        rows = torch.stack([a, b, c], dim=2).reshape(a.shape[0], 3 * m)
        if self.linear:
            if lin is None or tuple(lin.shape) != (a.shape[0], 2):
                raise ValueError(f"this problem has a linear term: give lin ({a.shape[0]}, 2).")
            rows = torch.cat([rows, lin.to(rows)], dim=1)
        return rows

    def knots(self, theta: torch.Tensor) -> torch.Tensor:
        """-b_i / a_i (R, m) (inf where a_i = 0)."""
        a, b, _, _ = self.parts(theta)
        return -b / a

    def conserved(self, theta: torch.Tensor) -> torch.Tensor:
        """q_i = c_i^2 - a_i^2 - b_i^2 (R, m), constant along gradient flow."""
        a, b, c, _ = self.parts(theta)
        return c * c - a * a - b * b

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R rows drawn as the module docstring says, on the CPU, then moved to ``device``.

        Draw order: gaussian: a (R, k), b, c; uniform: knots (R, k), signs, c (k = m / 2
        with ``symmetric``, whose second half of neurons repeats the first with -c).
        """
        m = self.width
        k = m // 2 if self.symmetric else m  # neurons drawn
        sw = math.sqrt(self.scale / (m * self.ratio))
        sc = math.sqrt(self.scale * self.ratio / m)
        dt = self.dtype
        if self.init_kind == "gaussian":
            a = torch.randn(R, k, generator=generator, dtype=dt) * sw
            b = torch.randn(R, k, generator=generator, dtype=dt) * sw
        else:
            lo, hi = self.interval
            t = lo + (hi - lo) * torch.rand(R, k, generator=generator, dtype=dt)
            sign = torch.randint(0, 2, (R, k), generator=generator).to(dt) * 2 - 1
            a = sign * sw
            b = -a * t
        c = torch.randn(R, k, generator=generator, dtype=dt) * sc
        if self.symmetric:
            a, b, c = torch.cat([a, a], 1), torch.cat([b, b], 1), torch.cat([c, -c], 1)
        lin = torch.zeros(R, 2, dtype=dt) if self.linear else None
        return self.join(a, b, c, lin).to(device or self.device)

    # ------------------------------------------------------------- the model
    def _x(self) -> torch.Tensor:
        return self.X[..., 0]  # (R or 1, n)

    def predict(self, theta: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """f at points x (n',) or (R, n') (default the samples): (R, n')."""
        a, b, c, lin = self.parts(theta)
        x = self._x() if x is None else torch.as_tensor(x, dtype=theta.dtype, device=theta.device)
        if x.dim() == 1:
            x = x[None]
        f = (torch.relu(x[..., None] * a[:, None] + b[:, None]) * c[:, None]).sum(-1)
        if self.linear:
            f = f + lin[:, :1] * x + lin[:, 1:]
        return f

    def _forward(self, theta: torch.Tensor):
        a, b, c, lin = self.parts(theta)
        x = self._x()
        Z = x[..., None] * a[:, None] + b[:, None]  # (R, n, m)
        A = torch.relu(Z)
        f = (A @ c[..., None])[..., 0]
        if self.linear:
            f = f + lin[:, :1] * x + lin[:, 1:]
        return a, b, c, x, Z, A, f - self.y

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L of each row: (R,)."""
        e = self._forward(theta)[-1]
        return 0.5 * (e * e).sum(1)

    def _grad(self, c, x, Z, A, e) -> torch.Tensor:
        D = (Z > 0).to(Z.dtype)
        G = e[..., None] * D  # (R, n, m)
        ga = c * (G * x[..., None]).sum(1)
        gb = c * G.sum(1)
        gc = (A * e[..., None]).sum(1)
        rows = torch.stack([ga, gb, gc], dim=2).reshape(e.shape[0], -1)
        if self.linear:
            gl = torch.stack([(e * x).sum(1), e.sum(1)], dim=1)
            rows = torch.cat([rows, gl], dim=1)
        return rows

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L (R,) and its gradient (R, P) in one pass."""
        _, _, c, x, Z, A, e = self._forward(theta)
        return 0.5 * (e * e).sum(1), self._grad(c, x.expand_as(e), Z, A, e)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of each row: (R, P)."""
        return self.loss_and_grad(theta)[1]

    def _jacobian(self, c, x, Z, A) -> torch.Tensor:
        """J = df(x_s)/dtheta (R, n, P)."""
        D = (Z > 0).to(Z.dtype)
        R, n, m = Z.shape
        cD = c[:, None] * D
        J = torch.stack([cD * x[..., None], cD, A], dim=3).reshape(R, n, 3 * m)
        if self.linear:
            J = torch.cat([J, torch.stack([x, torch.ones_like(x)], dim=2)], dim=2)
        return J

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """r = f(x) - y (R, n): L = |r|^2 / 2."""
        return self._forward(theta)[-1]

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r (R, n) and J = dr/dtheta (R, n, P)."""
        _, _, c, x, Z, A, e = self._forward(theta)
        return e, self._jacobian(c, x.expand_as(e), Z, A)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense Hessians (R, P, P) in closed form (see the module docstring)."""
        _, _, c, x, Z, A, e = self._forward(theta)
        x = x.expand_as(e)
        J = self._jacobian(c, x, Z, A)
        H = J.transpose(1, 2) @ J
        D = (Z > 0).to(Z.dtype)
        ca = (e[..., None] * D * x[..., None]).sum(1)  # (R, m): d2L / dc_i da_i
        cb = (e[..., None] * D).sum(1)  # d2L / dc_i db_i
        i = torch.arange(self.width, device=H.device) * 3
        H[:, i, i + 2] += ca
        H[:, i + 2, i] += ca
        H[:, i + 1, i + 2] += cb
        H[:, i + 2, i + 1] += cb
        return H

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H v for every row, without forming H: (R, P)."""
        if v.shape != theta.shape:
            raise ValueError(f"v has shape {tuple(v.shape)}; give one vector per row of theta.")
        _, _, c, x, Z, A, e = self._forward(theta)
        x = x.expand_as(e)
        J = self._jacobian(c, x, Z, A)
        out = ((J @ v[..., None]) * J).sum(1)  # J'J v
        D = (Z > 0).to(Z.dtype)
        ca = (e[..., None] * D * x[..., None]).sum(1)
        cb = (e[..., None] * D).sum(1)
        va, vb, vc, _ = self.parts(v)
        m = self.width
        cross = torch.stack([ca * vc, cb * vc, ca * va + cb * vb], dim=2).reshape(-1, 3 * m)
        out[:, : 3 * m] += cross
        return out
