"""Dropout and Dropconnect on a shallow linear network: the expected objective, R rows at once.

Senen-Cerda & Sanders, "Asymptotic convergence rate of Dropout on shallow linear neural
networks" (SIGMETRICS 2022). Samples are rows, X (m, d_in) and Y (m, d_out); the network
is f(x) = U V x with U (d_out, r) and V (r, d_in), r the width. With ``keep`` = q the
probability that a unit (Dropout) or a weight of V (Dropconnect) is kept, and masked
values scaled by 1/q (inverted dropout), the objective is the expectation over masks of

    1/(2m) sum_k || y_k - f_mask(x_k) ||^2,
    Dropout:      f_b(x) = (1/q) U diag(b) V x,       b_i ~ Bernoulli(q),
    Dropconnect:  f_B(x) = (1/q) U (B * V) x,          B_ij ~ Bernoulli(q).

Closed form. The mean of f_mask is U V x, so the expectation is the plain loss plus the
masks' variance. With Sigma = X'X/m, C = Y'X/m, W = U V, u_i the columns of U and v_i the
rows of V, and lambda = (1 - q)/q,

    L(U, V) = ||Y||^2/(2m) - tr(W C') + 1/2 tr(W Sigma W')
              + lambda/2 sum_i ||u_i||^2 v_i' D v_i,

with D = Sigma for Dropout (Var of (1/q) b_i (v_i'x) summed over the samples) and D =
diag(Sigma) for Dropconnect (the B_ij are independent, so only the squares x_j^2 enter).
For whitened data (Sigma = I) the two kinds are the same objective. The gradient is

    dL/dU = G V' + lambda U diag(s),       G = W Sigma - C,  s_i = v_i' D v_i,
    dL/dV = U' G + lambda diag(n) V D,     n_i = ||u_i||^2,

and Hessian-vector products are its directional derivative, written out in ``hvp``; the
Hessian maps ``hvp`` over the P basis vectors. Only Sigma, C and ||Y||^2 enter, so a
step costs the same for any number of samples.

Symmetries: permuting the hidden units, and rescaling one unit, u_i -> t u_i and v_i ->
v_i / t (t != 0), keep L; the second makes the minimizers come in r-dimensional families at
least, and gradient flow keeps ||u_i||^2 - ||v_i||^2 constant per unit (``conserved``).
The plain loss's GL(r) symmetry is broken by the regularizer. ``symmetry`` is None: the
units' parameters are not contiguous rows of one matrix, the layout the named groups need.

Whitened minimizer (``whitened_minimizer``). For Sigma = I, L = const + 1/2 ||W - C||_F^2
+ lambda/2 sum_i ||u_i||^2 ||v_i||^2, and by Cauchy-Schwarz sum_i ||u_i||^2 ||v_i||^2 >=
(sum_i ||u_i|| ||v_i||)^2 / r >= ||W||_*^2 / r, with equality for factorizations whose
units carry equal shares ||u_i|| ||v_i|| = ||W||_*/r (one exists for any W of rank <= r;
Mianjy, Arora & Vidal 2018). So min L = min over W of 1/2 ||W - C||^2 + lambda/(2r)
||W||_*^2: W* has C's singular vectors and singular values s_k = c_k - mu on the active
set (the top kappa values, kappa <= min(r, rank C)), zero elsewhere, with the common
shrinkage mu = (lambda/r) sum_k s_k = (lambda/r) sum_{k <= kappa} c_k / (1 + kappa
lambda / r); kappa is the largest with c_kappa > mu.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .._validate import as_param_batch, check_finite
from ._base import draw_rows
from ._rows import _number

__all__ = ["KINDS", "DropoutLinear", "WhitenedMinimizer", "whitened_minimizer"]

KINDS = ("dropout", "dropconnect")
"""The two mask kinds: hidden units (Dropout) or the first layer's weights (Dropconnect)."""

_WHITE_TOL = 1e-10
"""||X'X/m - I||_max below which data count as whitened (float64 round-off of a whitening
by a Cholesky factor is ~1e-15 per entry)."""


@dataclass(frozen=True)
class WhitenedMinimizer:
    """The minimizer of the expected Dropout loss on whitened data (module docstring).

    Attributes:
        W: the product U V at every minimizer, (d_out, d_in).
        singular: its singular values (kappa of them nonzero), descending.
        shrink: mu, the common amount the top singular values of C lose.
        active: kappa, the rank of W.
        value: the minimum of L.
    """

    W: torch.Tensor
    singular: torch.Tensor
    shrink: float
    active: int
    value: float


def whitened_minimizer(C: torch.Tensor, width: int, keep: float, y_sq: float) -> WhitenedMinimizer:
    """The minimum over (U, V) of the expected loss on whitened data, in closed form.

    L = ||Y||^2/(2m) - tr(UV C') + 1/2 ||UV||^2 + lambda/2 sum_i ||u_i||^2 ||v_i||^2.

    Args:
        C: Y'X/m (d_out, d_in), for data with X'X/m = I.
        width: r >= 1.
        keep: q in (0, 1].
        y_sq: ||Y||^2 / (2m).
    """
    lam = (1.0 - keep) / keep
    P, c, Qh = torch.linalg.svd(C.to(torch.float64), full_matrices=False)
    kmax = min(width, int((c > 0).sum()))
    s, mu, kappa = torch.zeros_like(c), 0.0, 0
    for k in range(kmax, 0, -1):  # the largest active set whose smallest value survives
        mu_k = (lam / width) * float(c[:k].sum()) / (1.0 + k * lam / width)
        if float(c[k - 1]) > mu_k:
            kappa, mu = k, mu_k
            break
    s[:kappa] = c[:kappa] - mu
    W = (P * s) @ Qh
    value = y_sq - float((c * s).sum()) + 0.5 * float((s * s).sum())
    value += lam / (2 * width) * float(s.sum()) ** 2
    return WhitenedMinimizer(W, s, mu, kappa, value)


@dataclass(frozen=True, eq=False)
class DropoutLinear:
    """The expected Dropout / Dropconnect loss of f(x) = U V x, R parameter rows at once.

    Args:
        X: inputs (m, d_in), samples as rows, shared by every row.
        Y: targets (m, d_out) (or (m,) for one output).
        width: r, the hidden units.
        keep: q in (0, 1], the probability that a unit / weight is kept (q = 1: no dropout).
        kind: ``"dropout"`` (masks on the r hidden units) or ``"dropconnect"`` (masks on
            every entry of V).
        init_scale: s > 0; ``init`` draws U ~ N(0, s^2/r), V ~ N(0, s^2/d_in) entrywise.

    Raises:
        ValueError: an unknown kind, keep outside (0, 1], width < 1, shapes that do not
            fit, NaN or infinite data.

    Attributes:
        n_params: P = r (d_out + d_in); a row is U row-major then V row-major.
        d_in, d_out, m: the sizes.
        Sigma, C: X'X/m and Y'X/m; ``whitened`` when Sigma = I (to 1e-10).
        lam: (1 - q) / q, the regularizer's weight.
        global_min: the minimum (``whitened_minimizer``) for whitened data, else None.
        symmetry: None (see the module docstring).

    Capabilities: ``Factored`` (``split`` into U (R, d_out, r), V (R, r, d_in)).
    """

    X: torch.Tensor = field(repr=False)
    Y: torch.Tensor = field(repr=False)
    width: int
    keep: float
    kind: str = "dropout"
    init_scale: float = 1.0

    symmetry = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}.")
        q = self.keep
        if not (_number(q) and 0 < q <= 1):
            raise ValueError(f"keep must be a probability in (0, 1], got {q!r}.")
        w = self.width
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"width must be a positive integer, got {w!r}.")
        s = self.init_scale
        if not (_number(s) and s > 0):
            raise ValueError(f"init_scale must be a positive number, got {s!r}.")
        X, Y = torch.as_tensor(self.X), torch.as_tensor(self.Y)
        if not X.is_floating_point():
            raise ValueError(f"X must hold floating-point numbers, got {X.dtype}.")
        Y = Y.to(dtype=X.dtype, device=X.device)
        if Y.dim() == 1:
            Y = Y[:, None]
        if X.dim() != 2 or Y.dim() != 2 or X.shape[0] != Y.shape[0] or X.shape[0] < 1:
            raise ValueError(
                f"X {tuple(X.shape)} and Y {tuple(Y.shape)} do not fit: need X (m, d_in) and "
                "Y (m, d_out) with the same m >= 1 samples as rows."
            )
        check_finite("X", X)
        check_finite("Y", Y)
        m = X.shape[0]
        Sigma = X.T @ X / m
        C = Y.T @ X / m
        eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
        whitened = bool((Sigma - eye).abs().max() <= _WHITE_TOL)
        values = {
            "X": X, "Y": Y, "m": m, "d_in": X.shape[1], "d_out": Y.shape[1],
            "Sigma": Sigma, "C": C, "y_sq": float((Y * Y).sum()) / (2 * m),
            "D": Sigma if self.kind == "dropout" else torch.diag(torch.diagonal(Sigma)),
            "lam": (1.0 - float(q)) / float(q), "keep": float(q),
            "init_scale": float(s), "whitened": whitened,
            "n_params": w * (X.shape[1] + Y.shape[1]), "dtype": X.dtype, "device": X.device,
        }  # fmt: skip
        for key, value in values.items():
            set_(self, key, value)
        gm = whitened_minimizer(C, w, self.keep, self.y_sq).value if whitened else None
        set_(self, "global_min", gm)

    # ----------------------------------------------------------------- layout
    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(R, P) -> U (R, d_out, r), V (R, r, d_in): views."""
        R, r, o = theta.shape[0], self.width, self.d_out
        return theta[:, : o * r].reshape(R, o, r), theta[:, o * r :].reshape(R, r, self.d_in)

    def join(self, U: torch.Tensor | tuple, V: torch.Tensor | None = None) -> torch.Tensor:
        """U (R, d_out, r), V (R, r, d_in) (or one network without R, or ``split``'s tuple)
        -> (R, P).

        Raises:
            ValueError: blocks that do not fit the sizes.
        """
        if V is None and isinstance(U, (tuple, list)):
            U, V = U
        U, V = torch.as_tensor(U), torch.as_tensor(V)
        if U.dim() == 2 and V.dim() == 2:
            U, V = U[None], V[None]
        o, r, d = self.d_out, self.width, self.d_in
        if U.shape[1:] != (o, r) or V.shape[1:] != (r, d) or U.shape[0] != V.shape[0]:
            raise ValueError(f"U must be (R, {o}, {r}) and V (R, {r}, {d}); got "
                             f"{tuple(U.shape)} and {tuple(V.shape)}.")  # fmt: skip
        return torch.cat([U.reshape(U.shape[0], -1), V.reshape(V.shape[0], -1)], dim=1)

    def _uv(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if theta.dim() != 2 or theta.shape[1] != self.n_params:
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}; this problem takes (R, {self.n_params})."
            )
        return self.split(theta)

    def product(self, theta: torch.Tensor) -> torch.Tensor:
        """W = U V of each row: (R, d_out, d_in)."""
        U, V = self._uv(theta)
        return U @ V

    def conserved(self, theta: torch.Tensor) -> torch.Tensor:
        """||u_i||^2 - ||v_i||^2 per unit (R, r), constant along gradient flow."""
        U, V = self._uv(theta)
        return (U * U).sum(1) - (V * V).sum(2)

    def as_batch(self, theta: object) -> torch.Tensor:
        """A point (P,) or batch (R, P) as (R, P) in the problem's dtype.

        Raises:
            ValueError: for any other shape.
        """
        return as_param_batch(theta, self.n_params, dtype=self.dtype, device=self.device)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R rows: U ~ N(0, s^2/r), V ~ N(0, s^2/d_in) entrywise (s = ``init_scale``).

        Drawn in the problem's dtype, U (all rows) then V, on ``device`` (default the
        problem's); a row drawn alone from a generator is its next P normal numbers.
        """
        r, o, d, s = self.width, self.d_out, self.d_in, self.init_scale
        U = draw_rows(self, torch.randn, (R, o, r), generator, device) * (s / math.sqrt(r))
        V = draw_rows(self, torch.randn, (R, r, d), generator, device) * (s / math.sqrt(d))
        return self.join(U, V)

    # ------------------------------------------------------------- objective
    def _parts(self, U: torch.Tensor, V: torch.Tensor):
        W = U @ V
        n = (U * U).sum(1)  # (R, r)
        VD = V @ self.D
        s = (VD * V).sum(2)  # (R, r)
        return W, n, VD, s

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L of each row: (R,)."""
        U, V = self._uv(theta)
        W, n, _, s = self._parts(U, V)
        fit = -(W * self.C).sum((1, 2)) + 0.5 * ((W @ self.Sigma) * W).sum((1, 2))
        return self.y_sq + fit + 0.5 * self.lam * (n * s).sum(1)

    def _grad(self, U, V, W, n, VD, s, G) -> torch.Tensor:
        gU = torch.baddbmm(self.lam * U * s[:, None, :], G, V.transpose(1, 2))
        gV = torch.baddbmm(self.lam * n[..., None] * VD, U.transpose(1, 2), G)
        return torch.cat([gU.flatten(1), gV.flatten(1)], dim=1)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L (R,) and its gradient (R, P) in one pass."""
        U, V = self._uv(theta)
        W, n, VD, s = self._parts(U, V)
        WS = W @ self.Sigma
        G = WS - self.C
        loss = self.y_sq + ((0.5 * WS - self.C) * W).sum((1, 2)) + 0.5 * self.lam * (n * s).sum(1)
        return loss, self._grad(U, V, W, n, VD, s, G)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of each row: (R, P)."""
        U, V = self._uv(theta)
        W, n, VD, s = self._parts(U, V)
        return self._grad(U, V, W, n, VD, s, W @ self.Sigma - self.C)

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H v per row (R, P), the directional derivative of the closed-form gradient.

        With (dU, dV) the blocks of v: dW = dU V + U dV, dG = dW Sigma, ds_i = 2 v_i' D dv_i,
        dn_i = 2 u_i' du_i, and
        d(dL/dU) = dG V' + G dV' + lambda (dU diag(s) + U diag(ds)),
        d(dL/dV) = dU' G + U' dG + lambda (diag(dn) V + diag(n) dV) D.
        """
        U, V = self._uv(theta)
        dU, dV = self._uv(v.expand_as(theta) if v.dim() == 2 else v)
        W, n, VD, s = self._parts(U, V)
        G = W @ self.Sigma - self.C
        dG = (dU @ V + U @ dV) @ self.Sigma
        ds = 2 * (VD * dV).sum(2)
        dn = 2 * (U * dU).sum(1)
        lam = self.lam
        hU = dG @ V.transpose(1, 2) + G @ dV.transpose(1, 2)
        hU = hU + lam * (dU * s[:, None, :] + U * ds[:, None, :])
        hV = dU.transpose(1, 2) @ G + U.transpose(1, 2) @ dG
        hV = hV + lam * (dn[..., None] * VD + n[..., None] * (dV @ self.D))
        return self.join(hU, hV)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """The Hessian of each row (R, P, P): ``hvp`` on the P basis vectors at once."""
        theta = self.as_batch(theta) if theta.dim() == 1 else theta
        R, P = theta.shape
        eye = torch.eye(P, dtype=theta.dtype, device=theta.device)
        rows = self.hvp(theta.repeat_interleave(P, 0), eye.repeat(R, 1))
        H = rows.reshape(R, P, P)
        return 0.5 * (H + H.transpose(1, 2))

    # ------------------------------------------------------------- masks
    def sample_loss_and_grad(
        self, theta: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss and gradient under freshly drawn masks, one per sample and row.

        Each row and each of the m samples gets its own mask (b (R, m, r) for Dropout, B
        (R, m, r, d_in) for Dropconnect), drawn on the CPU by ``generator``; the result is
        an unbiased estimate of (``loss``, ``grad``): what one step of Dropout SGD sees.
        With h the masked hidden values (R, m, r) and E = h U' - Y, the gradient is U: E'h/m,
        V: (E U * b)' X / m (Dropout) or sum_k B_k * (E U)_k x_k' / m (Dropconnect).
        """
        U, V = self._uv(theta)
        R, q = theta.shape[0], self.keep
        shape = (R, self.m, self.width) + ((self.d_in,) if self.kind == "dropconnect" else ())
        mask = torch.rand(shape, generator=generator, dtype=self.dtype) < q
        mask = mask.to(device=theta.device, dtype=theta.dtype) / q
        X = self.X
        if self.kind == "dropout":
            h = mask * (X @ V.transpose(1, 2))  # (R, m, r): the kept units' inputs, / q
        else:
            h = torch.einsum("Rmri,Rri,mi->Rmr", mask, V, X)
        E = h @ U.transpose(1, 2) - self.Y  # (R, m, d_out)
        loss = 0.5 * (E * E).sum((1, 2)) / self.m
        gU = E.transpose(1, 2) @ h / self.m
        Gh = E @ U  # dL/dh x m
        if self.kind == "dropout":
            gV = (Gh * mask).transpose(1, 2) @ X / self.m
        else:
            gV = torch.einsum("Rmri,Rmr,mi->Rri", mask, Gh, X) / self.m
        return loss, self.join(gU, gV)
