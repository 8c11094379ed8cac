"""Two-layer ReLU network with batch normalization and weight decay, R rows at once.

For a row theta with per-neuron parameters w_j = (u_j, gamma_j, b_j), u_j in R^d, and
output weights alpha (m,), on a sample X (n, d), y (n,):

    z_j      = X u_j                                    (n values),
    BN(z_j)  = gamma_j (z_j - mean(z_j)) / ||z_j - mean(z_j)||  +  c b_j,
    f        = sum_{j <= m} alpha_j relu(BN(z_j)),
    L(theta) = 1/2 ||f - y||^2  +  beta/2 sum_j (gamma_j^2 + b_j^2 + alpha_j^2),

with c = ``bias_scale`` (default 1; c = 1/sqrt(n) makes [centred, whitened data, c 1]
orthonormal). The normalization runs over the n samples and has no epsilon; there is no
1/n in front of the squared error, as in ``ReluWeightDecay``, and u_j is not penalized:
BN makes f independent of the scale of u_j, so a penalty on it would only shrink u_j
without changing f. The data are one sample shared by every row, X (n, d), y (n,), or
one per row, X (R, n, d), y (R, n); ``select(rows)`` restricts a problem with per-row data
to some runs.

Invariances of L (no symmetry of the group kind, bar the neuron permutations): u_j ->
c u_j for c > 0; u_j -> u_j + t w for any w with X w constant over the samples (a ones
column in X is removed by the centring, so it is no bias here: b_j is); and X -> X A with
u_j -> A^{-1} u_j for an invertible A.

Derivatives. With Zc = Z - mean(Z) (Z = X U', centred over the samples), nu_j = ||Zc_j||,
N = Zc / nu, H = gamma N + c b, A = relu(H), D = 1[H > 0] (relu'(0) = 0, as autograd),
e = A alpha - y and G_sj = e_s alpha_j D_sj (= dL/dH_sj), the gradient in closed form is

    dL/dalpha_j = A_j' e + beta alpha_j,
    dL/dgamma_j = G_j' N_j + beta gamma_j,
    dL/db_j     = c sum_s G_sj + beta b_j,
    dL/du_j     = X' (g_j - N_j (N_j' g_j) - mean(g_j)) / nu_j,   g_j = gamma_j G_j,

the last through the Jacobian (I - N_j N_j') P / nu_j of N_j with respect to z_j (P the
centring; N_j is centred already). The loss is least squares with the residuals
r = [e ; sqrt(beta) gamma ; sqrt(beta) b ; sqrt(beta) alpha] (n + 3m of them), whose
Jacobian is in closed form too: de_s/du_j = alpha_j gamma_j D_sj (Xc_s - N_sj N_j' Xc) /
nu_j (Xc the centred X), de_s/dgamma_j = alpha_j D_sj N_sj, de_s/db_j = alpha_j D_sj c,
de_s/dalpha_j = A_sj, and the penalty's rows are sqrt(beta) on gamma, b and alpha (zero on
u). Hessian-vector products and Hessians are forward-mode automatic differentiation
(``torch.func.jvp``) of the closed-form batched gradient: the rows are independent, so one
jvp with a tangent per row gives every row's H v, and the Hessian is that jvp mapped
(``torch.func.vmap``) over the P basis vectors.

A row where some neuron has ||Zc_j|| = 0 (u_j = 0, or X u_j constant over the samples)
has no normalization: its loss and derivatives are NaN, in that row only.

Symmetry: permuting the neurons (the rows of W = [U, gamma, b] with the entries of alpha)
keeps L (``"Sn"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.func import jvp, vmap

from ._rows import RowSamples, _number
from .empirical import _load_jvp_decompositions

__all__ = ["ReluBatchNorm"]

_HESSIAN_CHUNK_ELEMS = 2**24
"""About how many numbers one chunk of the Hessian's mapped jvps may hold per tensor."""


@dataclass(frozen=True, eq=False)
class ReluBatchNorm(RowSamples):
    """1/2 ||sum_j alpha_j relu(BN(X u_j)) - y||^2 + beta/2 (|gamma|^2 + |b|^2 + |alpha|^2).

    BN(z) = gamma_j (z - mean z) / ||z - mean z|| + bias_scale b_j over the n samples, no
    epsilon (see the module docstring); R runs at once.

    Args:
        X: inputs, (n, d) shared by every row, or (R, n, d) one sample per run; n >= 2.
        y: labels, (n,) or (R, n) to match.
        width: m, the hidden neurons.
        beta: the weight decay on gamma, b and alpha, a finite number > 0.
        bias_scale: c, the factor of b_j in BN, a finite number > 0.
        init_scale: s of the default init (see ``init``).
        global_min: the optimal value when the caller knows it, else None. It needs shared
            data (one value for every row).

    Raises:
        ValueError: for X and y of shapes that do not match, NaN or infinity in them, a
            non-floating X, fewer than 2 samples, width < 1, beta, bias_scale or
            init_scale not a positive number, or a global_min that is not a finite number
            >= 0 or comes with per-row data.

    Attributes:
        n, d: samples per run and input dimension.
        n_params: P = m (d + 2) + m: W (m, d + 2) row-major, row j = [u_j, gamma_j, b_j],
            then alpha (m).
        shared: whether one sample serves every row.
        symmetry: ``"Sn"``: permuting the neurons (rows of W with alpha) keeps the loss.

    Capabilities: ``RowData`` (``select``), ``Residuals`` (r = [e ; sqrt(beta) gamma ;
    sqrt(beta) b ; sqrt(beta) alpha]) and ``Factored`` (``split`` into W, alpha). Not
    ``KnownOptimum``: no minimizer is known in closed form.
    """

    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    width: int
    beta: float
    bias_scale: float = 1.0
    init_scale: float = 1.0
    global_min: float | None = None

    symmetry = "Sn"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        self._store_samples(self.X, self.y)
        if self.n < 2:
            raise ValueError(f"X has {self.n} sample(s); batch normalization needs n >= 2 samples.")
        self._store_decay()
        c = self.bias_scale
        if not (_number(c) and c > 0):
            raise ValueError(f"bias_scale must be a finite number > 0, got {c!r}.")
        set_(self, "bias_scale", float(c))
        set_(self, "n_params", self.width * (self.d + 3))

    # ----------------------------------------------------------------- layout
    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(R, P) -> W (R, m, d + 2) (row j = [u_j, gamma_j, b_j]), alpha (R, m); views."""
        m, k = self.width, self.width * (self.d + 2)
        return theta[:, :k].reshape(theta.shape[0], m, self.d + 2), theta[:, k:]

    def parts(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(R, P) -> U (R, m, d), gamma (R, m), b (R, m), alpha (R, m); views."""
        W, alpha = self.split(theta)
        d = self.d
        return W[..., :d], W[..., d], W[..., d + 1], alpha

    def join(self, *blocks: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The row(s) (R, P) of ``join(U, gamma, b, alpha)`` or ``join(W, alpha)``.

        Takes U (R, m, d), gamma, b, alpha (R, m) each, or W (R, m, d + 2) and alpha
        (R, m) as ``split`` gives them, spread out or as one tuple (``join(split(theta))``
        and ``join(parts(theta))`` give theta back). One network, the same blocks without
        the leading R (U (m, d), gamma (m,), ..., or W (m, d + 2), alpha (m,)), becomes one
        row (1, P).

        Raises:
            ValueError: for a number of blocks other than 2 or 4, or blocks that do not fit
                this problem's width and dimension.
        """
        if len(blocks) == 1 and isinstance(blocks[0], (tuple, list)):
            blocks = tuple(blocks[0])
        m, d = self.width, self.d
        if len(blocks) == 4:
            U, gamma, b, alpha = (torch.as_tensor(x) for x in blocks)
            if U.dim() == 2 and gamma.dim() == b.dim() == alpha.dim() == 1:
                U, gamma, b, alpha = U[None], gamma[None], b[None], alpha[None]
            R = U.shape[0] if U.dim() == 3 else -1
            if (
                U.dim() != 3
                or tuple(U.shape[1:]) != (m, d)
                or any(tuple(x.shape) != (R, m) for x in (gamma, b, alpha))
            ):
                raise ValueError(
                    f"U {tuple(U.shape)}, gamma {tuple(gamma.shape)}, b {tuple(b.shape)} and "
                    f"alpha {tuple(alpha.shape)} do not fit: need U (R, {m}, {d}) and the "
                    f"others (R, {m}), or U ({m}, {d}) and the others ({m},)."
                )
            W = torch.cat([U, gamma[..., None], b[..., None]], dim=2)
        elif len(blocks) == 2:
            W, alpha = (torch.as_tensor(x) for x in blocks)
            if W.dim() == 2 and alpha.dim() == 1:
                W, alpha = W[None], alpha[None]
            if (
                W.dim() != 3
                or tuple(W.shape[1:]) != (m, d + 2)
                or tuple(alpha.shape) != (W.shape[0], m)
            ):
                raise ValueError(
                    f"W {tuple(W.shape)} and alpha {tuple(alpha.shape)} do not fit: need "
                    f"W (R, {m}, {d + 2}) and alpha (R, {m}), or W ({m}, {d + 2}) and "
                    f"alpha ({m},)."
                )
        else:
            raise ValueError(
                f"join takes (U, gamma, b, alpha) or (W, alpha), got {len(blocks)} blocks."
            )
        return self._cat(W, alpha)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """R rows: u_j ~ N(0, s^2/d I), gamma_j, b_j, alpha_j ~ N(0, s^2/m).

        s = ``init_scale``. The three penalized weights of a neuron start on one scale, as
        they end (a critical point is balanced: gamma_j^2 + b_j^2 = alpha_j^2), and their
        1/sqrt(m) keeps GD's stable step independent of the width (the Hessian block of
        alpha grows with sum_j relu(BN(z_j))^2); with gamma_j, b_j ~ N(0, s^2) a GD step of
        0.02 threw a third of the width-32 nets of landscope's convex-bn study onto the
        all-dead network. Drawn on the CPU in the problem's dtype, in the order U (all
        rows, (R, m, d)), gamma (R, m), b (R, m), alpha (R, m), then moved to ``device``
        (default the problem's): a row drawn alone from a generator is built from its next
        m d + 3 m normal numbers, in that order.
        """
        m, d, s = self.width, self.d, self.init_scale
        U = torch.randn(R, m, d, generator=generator, dtype=self.dtype)
        gamma = torch.randn(R, m, generator=generator, dtype=self.dtype)
        b = torch.randn(R, m, generator=generator, dtype=self.dtype)
        alpha = torch.randn(R, m, generator=generator, dtype=self.dtype)
        c = s / math.sqrt(m)
        U, gamma, b, alpha = U * s / math.sqrt(d), gamma * c, b * c, alpha * c
        return self.join(U, gamma, b, alpha).to(device or self.device)

    # ------------------------------------------------------------- the model
    def predict(self, theta: torch.Tensor, X_new: torch.Tensor | None = None) -> torch.Tensor:
        """The nets' outputs at inputs X_new (R, n', d) or (n', d) (default: the sample).

        As a batch-normalized net at inference: each neuron is normalized with the mean
        and norm of X u_j over the training sample (each row's own with per-row data),
        not with statistics of X_new. On the training X this is the fit A alpha.

        Returns:
            (R, n').

        Raises:
            ValueError: for X_new not (n', d) or (R, n', d).
        """
        self._rows(theta)
        U, gamma, b, alpha = self.parts(theta)
        Z = self.X @ U.transpose(1, 2)
        mu = Z.mean(1, keepdim=True)
        nu = (Z - mu).square().sum(1, keepdim=True).sqrt()
        if X_new is None:
            Znew = Z
        else:
            Xn = torch.as_tensor(X_new, dtype=self.dtype, device=self.device)
            if Xn.dim() not in (2, 3) or Xn.shape[-1] != self.d:
                raise ValueError(
                    f"X_new has shape {tuple(Xn.shape)}; give (n', {self.d}) or (R, n', {self.d})."
                )
            Znew = Xn @ U.transpose(1, 2)
        H = gamma[:, None, :] * (Znew - mu) / nu + self.bias_scale * b[:, None, :]
        return (torch.relu(H) @ alpha[..., None])[..., 0]

    def _forward(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        W, alpha = self._rows(theta)
        d = self.d
        U, gamma, b = W[..., :d], W[..., d], W[..., d + 1]
        Z = self.X @ U.transpose(1, 2)  # (R, n, m)
        Zc = Z - Z.mean(1, keepdim=True)
        nu = Zc.square().sum(1, keepdim=True).sqrt()  # (R, 1, m); 0 gives NaN below
        N = Zc / nu
        H = gamma[:, None, :] * N + self.bias_scale * b[:, None, :]
        A = torch.relu(H)
        e = (A @ alpha[..., None])[..., 0] - self.y  # (R, n)
        return {"gamma": gamma, "b": b, "alpha": alpha, "nu": nu, "N": N, "H": H, "A": A, "e": e}

    def _loss(self, f: dict[str, torch.Tensor]) -> torch.Tensor:
        pen = f["gamma"].square().sum(1) + f["b"].square().sum(1) + f["alpha"].square().sum(1)
        return 0.5 * f["e"].square().sum(1) + 0.5 * self.beta * pen

    def _grad(self, f: dict[str, torch.Tensor]) -> torch.Tensor:
        gamma, b, alpha, nu, N, e = (f[k] for k in ("gamma", "b", "alpha", "nu", "N", "e"))
        D = (f["H"] > 0).to(N.dtype)  # relu'(h), 0 at the kink as autograd
        G = e[..., None] * D * alpha[:, None, :]  # dL/dH (R, n, m)
        ga = (f["A"].transpose(1, 2) @ e[..., None])[..., 0] + self.beta * alpha
        gg = (G * N).sum(1) + self.beta * gamma
        gb = self.bias_scale * G.sum(1) + self.beta * b
        g = gamma[:, None, :] * G  # dL/dN
        dZ = (g - N * (N * g).sum(1, keepdim=True) - g.mean(1, keepdim=True)) / nu
        gU = dZ.transpose(1, 2) @ self.X  # (R, m, d)
        return self._cat(torch.cat([gU, gg[..., None], gb[..., None]], dim=2), ga)

    def _gradient(self, theta: torch.Tensor) -> torch.Tensor:
        return self._grad(self._forward(theta))

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L of each row: (R,)."""
        return self._loss(self._forward(theta))

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L (R,) and its gradient (R, P) in one pass, in closed form."""
        f = self._forward(theta)
        return self._loss(f), self._grad(f)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of each row in closed form: (R, P)."""
        return self._gradient(theta)

    # ---------------------------------------------------------- least squares
    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """r = [e ; sqrt(beta) gamma ; sqrt(beta) b ; sqrt(beta) alpha], (R, n + 3 m).

        The loss is |r|^2 / 2.
        """
        f = self._forward(theta)
        c = math.sqrt(self.beta)
        return torch.cat([f["e"], c * f["gamma"], c * f["b"], c * f["alpha"]], dim=1)

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r (R, n + 3 m) and J = dr/dtheta (R, n + 3 m, P) in closed form.

        The fit's n rows (see the module docstring), then sqrt(beta) at gamma_j, b_j and
        alpha_j in the penalty's 3 m rows (zero on the u's).
        """
        f = self._forward(theta)
        gamma, alpha, nu, N, A = (f[k] for k in ("gamma", "alpha", "nu", "N", "A"))
        R, n, m = N.shape
        d = self.d
        D = (f["H"] > 0).to(N.dtype)
        Xc = self.X - self.X.mean(1, keepdim=True)  # (1 or R, n, d)
        aD = alpha[:, None, :] * D  # (R, n, m)
        coef = aD * gamma[:, None, :] / nu
        NXc = N.transpose(1, 2) @ Xc  # (R, m, d): N_j' Xc
        JU = coef[..., None] * (Xc[:, :, None, :] - N[..., None] * NXc[:, None])  # (R,n,m,d)
        JW = torch.cat([JU, (aD * N)[..., None], (aD * self.bias_scale)[..., None]], dim=3)
        Je = torch.cat([JW.reshape(R, n, m * (d + 2)), A], dim=2)
        c = math.sqrt(self.beta)
        P = self.n_params
        j = torch.arange(m, device=N.device)
        Jp = torch.zeros(3 * m, P, dtype=N.dtype, device=N.device)
        Jp[j, j * (d + 2) + d] = c
        Jp[m + j, j * (d + 2) + d + 1] = c
        Jp[2 * m + j, m * (d + 2) + j] = c
        r = torch.cat([f["e"], c * gamma, c * f["b"], c * alpha], dim=1)
        return r, torch.cat([Je, Jp.expand(R, 3 * m, P)], dim=1)

    # ---------------------------------------------------- second derivatives
    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H v for every row, (R, P): forward-mode AD of the closed-form gradient.

        Raises:
            ValueError: for v not of theta's shape.
        """
        self._rows(theta)
        if v.shape != theta.shape:
            raise ValueError(f"v has shape {tuple(v.shape)}; give one vector per row of theta.")
        _load_jvp_decompositions()
        return jvp(self._gradient, (theta,), (v,))[1]

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense Hessians (R, P, P): forward-mode AD of the closed-form gradient.

        The jvp of the gradient is mapped (``torch.func.vmap``, in chunks) over the P basis
        vectors, each given to every row at once. The result is returned as computed, not
        symmetrized.
        """
        self._rows(theta)
        R, P = theta.shape
        per = max(1, R * (self.n * self.width * 16 + self.width * self.d + self.n))
        chunk = max(1, min(P, _HESSIAN_CHUNK_ELEMS // per))
        basis = torch.eye(P, dtype=theta.dtype, device=theta.device)[:, None, :].expand(P, R, P)

        _load_jvp_decompositions()

        def column(t: torch.Tensor) -> torch.Tensor:
            return jvp(self._gradient, (theta,), (t,))[1]

        cols = vmap(column, chunk_size=chunk)(basis)  # (P, R, P): cols[k, r] = H_r e_k
        return cols.permute(1, 2, 0)
