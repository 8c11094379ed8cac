"""Shallow quadratic-activation networks, finite-sample and population, over R rows.

Kazemipour, Larsen & Druckmann, "No spurious local minima in training deep quadratic
networks" (2019). A network with h hidden units computes

    f(x) = sum_{j<=h} a_j (w_j . x)^2 + g |x|^2 = x' (M + g I) x,   M = W' diag(a) W,

so it is linear in the lifted matrix M (rank <= h). Variants (``variant``):

- ``"regular"``: parameters (W, a); g = 0.
- ``"added_norm"``: (W, a, g): the input norm |x|^2 as an extra regressor. All
  stationary points are then global minima with probability 1 once h >= d.
- ``"orthogonal"``: (W, a) with the penalty ``penalty * ||W W' - I_h||_F^2`` (h <= d) or
  ``||W'W - I_d||_F^2`` (h > d), whose minimizers are eigen-decompositions of M.

Losses, for residuals r = f(x) - y:

    QuadraticNet (samples):       L = 1/(2m) sum_i r_i^2 (+ penalty)
    QuadraticPopulation (x ~ N(0, I), y = x'A x):
        L = 1/2 E[(x'D x)^2] = 1/2 ((tr D)^2 + 2 tr(D^2)),   D = M + g I - A,

from E[(x'Ax)(x'Bx)] = tr A tr B + 2 tr(AB) for symmetric A, B. Gradients in closed form
through G = dL/dM (symmetric): dL/dW = 2 diag(a) W G, dL/da_j = w_j' G w_j,
dL/dg = tr G, with G = 1/m sum_i r_i x_i x_i' or G = tr(D) I + 2 D. Hessians in closed
form too (see ``hessian``).

Both are least squares, L = |rho|^2 / 2 (the ``Residuals`` capability, for
Levenberg-Marquardt): rho = r / sqrt(m) on samples, rho = (tr D, sqrt(2) vec D) for the
population, and the orthogonality penalty adds sqrt(2 penalty) vec(W W' - I) (or of
W'W - I).

Symmetry ``"Sn"``: (W, a) -> (P W, P a) permutes the hidden units and keeps f, and the
penalty too (P (W W' - I) P' has the same norm; W'P'PW = W'W). The sign flips
w_j -> -w_j and the rescalings (w_j, a_j) -> (c w_j, a_j / c^2) are symmetries as well,
outside that group's name.

Parameter rows: W flattened row-major (h*d), then a (h), then g (1, added_norm only).

``quadratic_data`` draws the sample sets of the paper's shallow experiments: Gaussian
inputs with a planted quadratic target (``identity``, ``gaussian``) or targets independent
of the inputs (``nonplanted``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch.func import jacrev, vmap

from .._validate import as_param_batch, check_finite, resolve_device, resolve_dtype
from ._base import draw_rows

__all__ = [
    "TARGETS",
    "VARIANTS",
    "QuadraticNet",
    "QuadraticPopulation",
    "matrix_from_network",
    "quadratic_data",
]

VARIANTS = ("regular", "added_norm", "orthogonal")
TARGETS = ("identity", "gaussian", "nonplanted")


def matrix_from_network(W: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """M = W' diag(a) W for W (..., h, d), a (..., h): (..., d, d)."""
    return W.transpose(-1, -2) @ (a[..., :, None] * W)


def quadratic_data(
    target: str, m: int, d: int, *, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """m samples (X (m, d), y (m,)), float64 on the CPU, for the shallow quadratic networks.

    The inputs X ~ N(0, I_d) are drawn first, then the targets (Kazemipour, Larsen &
    Druckmann 2019):

    - ``identity``: y = sum_i s_i x_i^2 = x' diag(s) x with random signs s_i;
    - ``gaussian``: y = x' A x, A = (G + G') / 2 with G standard Gaussian (d, d);
    - ``nonplanted``: y ~ N(0, 2d) independent of x (2d: the identity target's variance).

    Raises:
        ValueError: for an unknown target, or m or d below 1.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}.")
    for name, n in (("m", m), ("d", d)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    f64 = torch.float64
    X = torch.randn(m, d, generator=generator, dtype=f64)
    if target == "identity":
        s = torch.where(torch.rand(d, generator=generator) < 0.5, -1.0, 1.0).to(f64)
        y = (X.square() * s).sum(1)
    elif target == "gaussian":
        G = torch.randn(d, d, generator=generator, dtype=f64)
        y = ((X @ ((G + G.T) / 2)) * X).sum(1)
    else:
        y = math.sqrt(2 * d) * torch.randn(m, generator=generator, dtype=f64)
    return X, y


class _QuadraticBase:
    """Layout, init, penalty and derivatives shared by the sample and population forms."""

    d: int
    h: int
    variant: str
    penalty: float
    dtype: torch.dtype
    device: torch.device
    # hidden-unit permutations: split(theta) = (W (R, h, d), a (R, h), g), as the group needs
    symmetry: ClassVar[str | None] = "Sn"

    def _check_common(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.h, bool) or not isinstance(self.h, (int, np.integer)) or self.h < 1:
            raise ValueError(f"h must be a positive integer, got {self.h!r}.")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {VARIANTS}.")
        if not (math.isfinite(self.penalty) and self.penalty >= 0):
            raise ValueError(f"penalty must be a finite number >= 0, got {self.penalty!r}.")
        set_(self, "dtype", resolve_dtype(self.dtype))
        set_(self, "device", resolve_device(self.device))

    @property
    def n_params(self) -> int:
        return self.h * self.d + self.h + (1 if self.variant == "added_norm" else 0)

    def as_batch(self, theta: object) -> torch.Tensor:
        return as_param_batch(theta, self.n_params, dtype=self.dtype, device=self.device)

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(R, P) -> W (R, h, d), a (R, h), g (R,) (zeros unless added_norm)."""
        R, hd = theta.shape[0], self.h * self.d
        W = theta[:, :hd].reshape(R, self.h, self.d)
        a = theta[:, hd : hd + self.h]
        if self.variant == "added_norm":
            g = theta[:, hd + self.h]
        else:
            g = torch.zeros(R, dtype=theta.dtype, device=theta.device)
        return W, a, g

    def join(
        self,
        W: torch.Tensor | tuple[torch.Tensor, ...],
        a: torch.Tensor | None = None,
        g: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """W (R, h, d), a (R, h) [, g (R,)] -> (R, P); also ``join(split(theta))``.

        g is used by the added_norm variant only (default 0 there).
        """
        if isinstance(W, (tuple, list)):
            if a is not None or g is not None:
                raise ValueError("give the blocks as join((W, a, g)) or join(W, a, g), not both.")
            W, a, *rest = W
            g = rest[0] if rest else None
        if a is None:
            raise ValueError("join needs the second layer a as well as W.")
        parts = [W.reshape(W.shape[0], -1), a]
        if self.variant == "added_norm":
            parts.append((torch.zeros_like(a[:, 0]) if g is None else g)[:, None])
        return torch.cat(parts, dim=1)

    def matrix(self, theta: torch.Tensor) -> torch.Tensor:
        """The function's matrix M + g I, (R, d, d): f(x) = x' (M + g I) x."""
        W, a, g = self.split(theta)
        eye = torch.eye(self.d, dtype=theta.dtype, device=theta.device)
        return matrix_from_network(W, a) + g[:, None, None] * eye

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """W ~ N(0, 1/d), a ~ N(0, 1/h) i.i.d., g = 0."""
        W = draw_rows(self, torch.randn, (R, self.h, self.d), generator, device) / math.sqrt(self.d)
        a = draw_rows(self, torch.randn, (R, self.h), generator, device) / math.sqrt(self.h)
        return self.join(W, a)

    # -- the penalty of the orthogonal variant -------------------------------------------
    def _gram_minus_eye(self, W: torch.Tensor) -> torch.Tensor:
        if self.h <= self.d:
            C = W @ W.transpose(1, 2)
        else:
            C = W.transpose(1, 2) @ W
        return C - torch.eye(C.shape[-1], dtype=W.dtype, device=W.device)

    def _penalty(self, W: torch.Tensor) -> torch.Tensor:
        if self.variant != "orthogonal":
            return torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
        return self.penalty * self._gram_minus_eye(W).square().sum((1, 2))

    def _penalty_grad(self, W: torch.Tensor) -> torch.Tensor:
        if self.variant != "orthogonal":
            return torch.zeros_like(W)
        E = self._gram_minus_eye(W)
        # d/dW ||W W' - I||^2 = 4 E W;  d/dW ||W'W - I||^2 = 4 W E
        return 4 * self.penalty * (E @ W if self.h <= self.d else W @ E)

    def _penalty_jacobian(self, W: torch.Tensor) -> torch.Tensor:
        """d vec(E) / d vec(W) for E = W W' - I or W'W - I: (R, c*c, h*d)."""
        R, h, d = W.shape
        if h <= self.d:  # E_jk = w_j . w_k: dE_jk / dW_lm = delta_jl W_km + delta_kl W_jm
            eye = torch.eye(h, dtype=W.dtype, device=W.device)
            T = torch.einsum("jl,rkm->rjklm", eye, W)
        else:  # E_pq = sum_l W_lp W_lq: dE_pq / dW_lm = delta_mp W_lq + delta_mq W_lp
            eye = torch.eye(d, dtype=W.dtype, device=W.device)
            T = torch.einsum("mp,rlq->rpqlm", eye, W)
        T = T + T.transpose(1, 2)
        c = T.shape[1]
        return T.reshape(R, c * c, h * d)

    # -- least squares (the Residuals capability) -----------------------------------------
    def _fit_residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """rho (R, m) with data term = |rho|^2 / 2."""
        raise NotImplementedError

    def _fit_residual_jacobian(self, J: torch.Tensor) -> torch.Tensor:
        """d rho / d theta (R, m, P) from J = dM/dtheta (R, P, d, d)."""
        raise NotImplementedError

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        """Residuals (R, m) with loss = |r|^2 / 2: the data term's, then (orthogonal
        variant) sqrt(2 penalty) times the entries of the Gram matrix minus I."""
        parts = [self._fit_residuals(theta)]
        if self.variant == "orthogonal":
            E = self._gram_minus_eye(self.split(theta)[0])
            parts.append(math.sqrt(2 * self.penalty) * E.flatten(1))
        return torch.cat(parts, dim=1)

    def residuals_and_jacobian(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals (R, m) and their Jacobian (R, m, P), in closed form."""
        J = self._fit_residual_jacobian(self._jacobian_m(theta))
        if self.variant == "orthogonal":
            W = self.split(theta)[0]
            Jp = self._penalty_jacobian(W)
            pad = Jp.new_zeros(Jp.shape[0], Jp.shape[1], self.n_params - Jp.shape[2])
            J = torch.cat([J, math.sqrt(2 * self.penalty) * torch.cat([Jp, pad], dim=2)], dim=1)
        return self.residuals(theta), J

    # -- the objective -------------------------------------------------------------------
    def _fit(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data term (R,) and G = its derivative in M (R, d, d)."""
        raise NotImplementedError

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        W, a, _ = self.split(theta)
        fit, G = self._fit(theta)
        gW = 2 * a[..., None] * (W @ G) + self._penalty_grad(W)
        ga = ((W @ G) * W).sum(-1)
        parts = [gW.reshape(theta.shape[0], -1), ga]
        if self.variant == "added_norm":
            parts.append(torch.diagonal(G, dim1=1, dim2=2).sum(-1)[:, None])
        return fit + self._penalty(W), torch.cat(parts, dim=1)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        W = self.split(theta)[0]
        return self._fit(theta)[0] + self._penalty(W)

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]

    def _jacobian_m(self, theta: torch.Tensor) -> torch.Tensor:
        """dM/dtheta for M = W' diag(a) W + g I: (R, P, d, d)."""
        W, a, _ = self.split(theta)
        R, h, d = W.shape
        eye = torch.eye(d, dtype=W.dtype, device=W.device)
        # d/dw_jk: a_j (w_j e_k' + e_k w_j')
        outer = W[:, :, None, :, None] * eye[None, None, :, None, :]  # w_j e_k' as [j,k,p,q]
        JW = a[:, :, None, None, None] * (outer + outer.transpose(-1, -2))
        Ja = W[:, :, :, None] * W[:, :, None, :]  # w_j w_j'
        parts = [JW.reshape(R, h * d, d, d), Ja]
        if self.variant == "added_norm":
            parts.append(eye.expand(R, 1, d, d))
        return torch.cat(parts, dim=1)

    def _fit_curvature(self, J: torch.Tensor) -> torch.Tensor:
        """J' Q J, Q the (constant) Hessian of the data term in M: (R, P, P)."""
        raise NotImplementedError

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Exact Hessian (R, P, P) in closed form.

        H = J' Q J + (terms of <G, d2M>): the data term is a quadratic function of M with
        Hessian Q and gradient G, and M is quadratic in (W, a), with d2M/dw_j2 giving the
        block 2 a_j G and d2M/dw_j da_j the column 2 G w_j. The orthogonality penalty's
        Hessian comes from autograd (reverse over reverse) of the penalty alone.
        """
        W, a, _ = self.split(theta)
        R, h, d = W.shape
        _, G = self._fit(theta)
        H = self._fit_curvature(self._jacobian_m(theta))
        eye_h = torch.eye(h, dtype=W.dtype, device=W.device)
        # 2 a_j G on the (w_j, w_j) blocks; 2 G w_j on the (w_j, a_j) pairs
        Cww = 2 * a[:, :, None, None, None] * eye_h[None, :, None, :, None] * G[:, None, :, None, :]
        Cwa = eye_h[None, :, None, :] * (2 * (W @ G))[:, :, :, None]  # (R, h, d, h)
        C = torch.zeros_like(H)
        C[:, : h * d, : h * d] = Cww.reshape(R, h * d, h * d)
        C[:, : h * d, h * d : h * d + h] = Cwa.reshape(R, h * d, h)
        C[:, h * d : h * d + h, : h * d] = Cwa.reshape(R, h * d, h).transpose(1, 2)
        H = H + C
        if self.variant == "orthogonal" and self.penalty > 0:

            def row_penalty(w: torch.Tensor) -> torch.Tensor:
                return self._penalty(w.reshape(1, h, d))[0]

            Hp = vmap(jacrev(jacrev(row_penalty)))(W.reshape(R, h * d))
            H[:, : h * d, : h * d] += Hp
        return H

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (self.hessian(theta) @ v[..., None])[..., 0]


@dataclass(frozen=True, eq=False)
class QuadraticNet(_QuadraticBase):
    """Squared loss of a shallow quadratic network on samples (X, y).

    Args:
        X: inputs (m, d).
        y: targets (m,).
        h: hidden units (>= 1).
        variant: ``"regular"``, ``"added_norm"`` or ``"orthogonal"``.
        penalty: weight of the orthogonality penalty (orthogonal variant only).
        dtype, device: as elsewhere.

    Raises:
        ValueError: for mis-shaped, empty or non-finite data, or bad h / variant / penalty.

    ``global_min`` is set by the caller who knows it (the convex optimum of
    ``landscope.convex.lifted_least_squares`` when h >= d); None otherwise.
    """

    X: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    h: int = 1
    variant: str = "regular"
    penalty: float = 1.0
    global_min: float | None = None
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    d: int = field(init=False)
    _sq: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._check_common()
        set_ = object.__setattr__
        X = torch.as_tensor(self.X).to(dtype=self.dtype, device=self.device)
        y = torch.as_tensor(self.y).to(dtype=self.dtype, device=self.device)
        if X.dim() != 2 or X.shape[0] == 0:
            raise ValueError(f"X has shape {tuple(X.shape)}; expected (m, d) with m >= 1.")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y has shape {tuple(y.shape)}; expected ({X.shape[0]},).")
        check_finite("X", X)
        check_finite("y", y)
        set_(self, "X", X)
        set_(self, "y", y)
        set_(self, "d", int(X.shape[1]))
        set_(self, "_sq", X.square().sum(1))

    def _errors(self, theta: torch.Tensor) -> torch.Tensor:
        """f(x_i) - y_i, (R, m) (``residuals`` scales them by 1/sqrt(m))."""
        W, a, g = self.split(theta)
        XW = torch.einsum("md,rhd->rmh", self.X, W)
        return (XW.square() * a[:, None, :]).sum(-1) + g[:, None] * self._sq - self.y

    def _fit_residuals(self, theta: torch.Tensor) -> torch.Tensor:
        return self._errors(theta) / math.sqrt(self.X.shape[0])

    def _fit_residual_jacobian(self, J: torch.Tensor) -> torch.Tensor:
        # d f(x_i) = <dM, x_i x_i'>
        Jr = torch.einsum("rpde,md,me->rmp", J, self.X, self.X)
        return Jr / math.sqrt(self.X.shape[0])

    def _fit_curvature(self, J: torch.Tensor) -> torch.Tensor:
        # Q[D1, D2] = 1/m sum_i <D1, x_i x_i'> <D2, x_i x_i'>:  J' Q J = Jr' Jr (Jr scaled)
        Jr = self._fit_residual_jacobian(J)
        return Jr.transpose(1, 2) @ Jr

    def _fit(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self._errors(theta)
        m = self.X.shape[0]
        G = torch.einsum("rm,md,me->rde", r, self.X, self.X) / m
        return 0.5 * r.square().mean(1), G


@dataclass(frozen=True, eq=False)
class QuadraticPopulation(_QuadraticBase):
    """Population loss against a planted quadratic y = x'A x, x ~ N(0, I_d), in closed form.

    Args:
        A: the planted symmetric matrix (d, d).
        h, variant, penalty, dtype, device: as for ``QuadraticNet``.

    ``global_min`` is 0 when the network can represent A, that is when h >= rank(A)
    (for every variant).
    """

    A: torch.Tensor = field(repr=False)
    h: int = 1
    variant: str = "regular"
    penalty: float = 1.0
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    d: int = field(init=False)

    def __post_init__(self) -> None:
        self._check_common()
        A = torch.as_tensor(self.A).to(dtype=self.dtype, device=self.device)
        if A.dim() != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A has shape {tuple(A.shape)}; expected a square (d, d) matrix.")
        check_finite("A", A)
        if not torch.allclose(A, A.T, rtol=1e-12, atol=1e-12):
            raise ValueError("A must be symmetric.")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "d", int(A.shape[0]))

    @property
    def global_min(self) -> float | None:
        # every variant represents A once h >= rank(A); the orthogonal one with zero
        # penalty too (W = the top eigenvectors, padded by zero rows or [U'; 0])
        rank = int(torch.linalg.matrix_rank(self.A))
        return 0.0 if self.h >= rank else None

    def _fit_residuals(self, theta: torch.Tensor) -> torch.Tensor:
        # |(tr D, sqrt(2) vec D)|^2 = (tr D)^2 + 2 tr(D^2) for a symmetric D
        D = self.matrix(theta) - self.A
        tr = torch.diagonal(D, dim1=1, dim2=2).sum(-1)
        return torch.cat([tr[:, None], math.sqrt(2) * D.flatten(1)], dim=1)

    def _fit_residual_jacobian(self, J: torch.Tensor) -> torch.Tensor:
        tr = torch.diagonal(J, dim1=2, dim2=3).sum(-1)  # (R, P)
        return torch.cat([tr[:, None, :], math.sqrt(2) * J.flatten(2).transpose(1, 2)], dim=1)

    def _fit_curvature(self, J: torch.Tensor) -> torch.Tensor:
        # Q[D1, D2] = tr D1 tr D2 + 2 <D1, D2>
        tr = torch.diagonal(J, dim1=2, dim2=3).sum(-1)  # (R, P)
        Jf = J.flatten(2)
        return tr[:, :, None] * tr[:, None, :] + 2 * Jf @ Jf.transpose(1, 2)

    def _fit(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        D = self.matrix(theta) - self.A
        tr = torch.diagonal(D, dim1=1, dim2=2).sum(-1)
        eye = torch.eye(self.d, dtype=D.dtype, device=D.device)
        fit = 0.5 * (tr.square() + 2 * D.square().sum((1, 2)))
        return fit, tr[:, None, None] * eye + 2 * D
