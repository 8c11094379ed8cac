"""Two-layer ReLU teacher-student with Gaussian inputs, in closed form.

Safran & Shamir, "Spurious local minima are common in two-layer ReLU neural networks",
ICML 2018. Inputs x ~ N(0, I_d); teacher y = sum_j b_j relu(v_j . x); student
f(x) = sum_i a_i relu(w_i . x). The population loss

    F(W, a) = 1/2 E[(f(x) - y)^2]
            = 1/2 a'K(W,W)a - a'K(W,V)b + 1/2 b'K(V,V)b

has a closed form through the arc-cosine kernel K (``landscope.gaussian.arccos``), and
so do its gradient and Hessian. With g(u, v) = grad_u K(u, v) =
(|v| sin t u/|u| + (pi - t) v) / (2 pi):

    dF/dw_i = a_i sum_z c_z g(w_i, z),   z over [W; V], c = [a; -b],
    dF/da_i = sum_z c_z K(w_i, z).

Second derivatives (t, c = cos t, s = sin t between u and v; ubar = u/|u|):

    d2K/du2  = |v|/(2 pi |u|) (s (I - ubar ubar') + q q'/s),     q = vbar - c ubar,
    d2K/dudv = ((pi - t) I + s c vbar vbar' + s (p vbar' + vbar p') - (c/s) p p') / (2 pi),
                                                                 p = ubar - c vbar.

Both are continuous at t = 0 and t = pi (K is C^2 there: K = u.v/2 + O(t^3)), and are
computed from the explicit vectors p, q (not from 1 - c^2) so that they stay accurate
for nearly parallel neurons, as at the teacher.

Zero-norm neurons: K(0, v) = 0, but K is not differentiable at u = 0. We follow torch's
relu'(0) = 0 convention (what autograd on a sampled loss gives): a neuron with w_i = 0
gets zero gradient and zero Hessian rows. GD started away from zero never lands on zero
exactly, so this only matters for hand-built points.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .._validate import as_param_batch, check_finite, resolve_device, resolve_dtype
from ..gaussian.arccos import arccos_pairs
from ._base import draw_rows

try:  # the compiled GD path; without a usable numba the driver steps in torch
    import numba

    from . import _relu_gd
except (ImportError, RuntimeError):  # pragma: no cover - numba is a dependency; a
    _relu_gd = None  # RuntimeError: no writable folder for its on-disk cache

__all__ = ["ReluTeacherStudent"]

_TWO_PI = 2 * math.pi


@dataclass(frozen=True, eq=False)
class ReluTeacherStudent:
    """Closed-form population loss of a two-layer ReLU student against a ReLU teacher.

    Args:
        k: number of teacher neurons (>= 1).
        n: number of student neurons (>= 1); defaults to ``k``.
        d: input dimension; defaults to ``k``. Must be >= k for the identity teacher.
        teacher: ``"identity"`` (V = first k rows of I_d, the published setting) or an
            array of shape (k, d).
        train_second_layer: if True the parameters are (W, a); otherwise a = 1 is fixed
            and the parameters are W alone.
        init_scale: student weights start i.i.d. N(0, init_scale^2 / d); 1 gives the
            Xavier-like init of Safran & Shamir.
        dtype: ``"float64"`` (default; certification needs it) or ``"float32"``.
        device: ``"cpu"`` or ``"cuda"``.

    Raises:
        ValueError: for impossible sizes or a mis-shaped or non-finite teacher.

    Parameter rows have P = n*d (+ n) entries: W flattened row-major, then a.
    """

    k: int
    n: int | None = None
    d: int | None = None
    teacher: object = "identity"
    train_second_layer: bool = False
    init_scale: float = 1.0
    dtype: torch.dtype | str = torch.float64
    device: torch.device | str = "cpu"
    V: torch.Tensor = field(init=False, repr=False)
    b: torch.Tensor = field(init=False, repr=False)
    _kvv: float = field(init=False, repr=False)
    _v_norm: torch.Tensor = field(init=False, repr=False)
    _coef_fixed: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("k", "n", "d"):
            val = getattr(self, name)
            if val is not None and (not isinstance(val, (int, np.integer)) or val < 1):
                raise ValueError(f"{name} must be a positive integer, got {val!r}.")
        set_(self, "dtype", resolve_dtype(self.dtype))
        set_(self, "device", resolve_device(self.device))
        if self.n is None:
            set_(self, "n", self.k)
        if isinstance(self.teacher, str):
            if self.teacher != "identity":
                raise ValueError(
                    f"unknown teacher {self.teacher!r}; use 'identity' or a (k, d) array."
                )
            d = self.k if self.d is None else self.d
            if d < self.k:
                raise ValueError(f"the identity teacher needs d >= k, got d = {d} < k = {self.k}.")
            V = torch.eye(d, dtype=self.dtype)[: self.k]
        else:
            V = torch.as_tensor(self.teacher, dtype=self.dtype)
            if (
                V.dim() != 2
                or V.shape[0] != self.k
                or (self.d is not None and V.shape[1] != self.d)
            ):
                want = f"({self.k}, {self.d if self.d is not None else 'd'})"
                raise ValueError(f"teacher has shape {tuple(V.shape)}; expected {want}.")
            check_finite("teacher", V)
            d = V.shape[1]
        if not math.isfinite(self.init_scale) or self.init_scale <= 0:
            raise ValueError(f"init_scale must be a positive number, got {self.init_scale!r}.")
        set_(self, "d", int(d))
        set_(self, "V", V.to(self.device))
        set_(self, "b", torch.ones(self.k, dtype=self.dtype, device=self.device))
        set_(self, "_v_norm", torch.linalg.vector_norm(self.V, dim=-1))
        set_(
            self,
            "_coef_fixed",
            torch.cat([torch.ones(self.n, dtype=self.dtype, device=self.device), -self.b]),
        )
        kvv = arccos_pairs(self.V, self.V).kernel()
        set_(self, "_kvv", float(0.5 * (self.b @ kvv @ self.b)))

    # ----------------------------------------------------------------- layout
    @property
    def n_params(self) -> int:
        return self.n * self.d + (self.n if self.train_second_layer else 0)

    @property
    def global_min(self) -> float | None:
        """0 when the student can represent the teacher (n >= k), else unknown."""
        return 0.0 if self.n >= self.k else None

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.n_params,) if self.train_second_layer else (self.n, self.d)

    def as_batch(self, theta: object) -> torch.Tensor:
        rs = None if self.train_second_layer else (self.n, self.d)
        t = as_param_batch(theta, self.n_params, row_shape=rs, dtype=self.dtype, device=self.device)
        return t

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(R, P) -> W (R, n, d), a (R, n)."""
        R = theta.shape[0]
        W = theta[:, : self.n * self.d].reshape(R, self.n, self.d)
        if self.train_second_layer:
            a = theta[:, self.n * self.d :]
        else:
            a = torch.ones(R, self.n, dtype=theta.dtype, device=theta.device)
        return W, a

    def join(
        self, W: torch.Tensor | tuple[torch.Tensor, torch.Tensor], a: torch.Tensor | None = None
    ) -> torch.Tensor:
        """W (R, n, d) [, a (R, n)] -> (R, P); also ``join(split(theta))``, a (W, a) pair.

        Without a trained second layer ``a`` is not a parameter and is ignored.
        """
        if isinstance(W, (tuple, list)):
            if a is not None:
                raise ValueError("give the blocks as join((W, a)) or join(W, a), not both.")
            W, a = W
        R = W.shape[0]
        parts = [W.reshape(R, -1)]
        if self.train_second_layer:
            parts.append(torch.ones(R, self.n, dtype=W.dtype, device=W.device) if a is None else a)
        return torch.cat(parts, dim=1)

    def teacher_point(self) -> torch.Tensor:
        """A global minimizer as one (1, P) row: the teacher, padded with zero neurons."""
        W = torch.zeros(1, self.n, self.d, dtype=self.dtype, device=self.device)
        m = min(self.n, self.k)
        W[0, :m] = self.V[:m]
        return self.join(W)

    def init(
        self,
        R: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """W ~ N(0, init_scale^2/d) i.i.d.; a = 1 (if trained, it starts at 1 too)."""
        W = draw_rows(self, torch.randn, (R, self.n, self.d), generator, device)
        W = W * (self.init_scale / math.sqrt(self.d))
        return self.join(W)

    # ------------------------------------------------------------ objective
    def _pieces(self, theta: torch.Tensor):
        W, a = self.split(theta)
        R = W.shape[0]
        Z = torch.cat([W, self.V.expand(R, -1, -1)], dim=1)  # (R, n+k, d)
        coef = torch.cat([a, -self.b.expand(R, -1)], dim=1)  # (R, n+k)
        return W, a, Z, coef, arccos_pairs(W, Z)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Population loss (R,) and gradient (R, P), in one pass.

        With the second layer fixed this is ``grad``'s lean pass plus a few operations
        for the loss (a driver with a loss target calls it at every step); otherwise the
        general pass over every pair's kernel (``_loss_and_grad_general``).
        """
        if self.train_second_layer:
            return self._loss_and_grad_general(theta)
        return self._lean(theta, with_loss=True)

    def _loss_and_grad_general(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        W, a, Z, coef, pr = self._pieces(theta)
        K = pr.kernel()  # (R, n, n+k)
        Kc = (K * coef[:, None, :]).sum(-1)  # sum_z c_z K(w_i, z)
        n = self.n
        loss = 0.5 * (a * Kc).sum(-1) - 0.5 * (a * (K[:, :, n:] @ self.b)).sum(-1) + self._kvv
        S = self._g_sum(pr, Z, coef)  # (R, n, d): sum_z c_z g(w_i, z)
        gW = a[..., None] * S
        if self.train_second_layer:
            grad = torch.cat([gW.reshape(W.shape[0], -1), Kc], dim=1)
        else:
            grad = gW.reshape(W.shape[0], -1)
        return loss, grad

    @staticmethod
    def _g_sum(pr, Z: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        s1 = (coef[:, None, :] * pr.nz[:, None, :] * pr.sin).sum(-1)  # (R, n)
        A = coef[:, None, :] * (math.pi - pr.angle)  # (R, n, n+k)
        S = (s1[..., None] * pr.ubar + A @ Z) / _TWO_PI
        return S * (pr.nu > 0)[..., None]  # relu'(0) = 0 for zero neurons

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[0]

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient alone (R, P): the optimizers' hot path, leaner than the general pass.

        Only the angles between student neurons and [W; V] are needed, and the
        arccos/sqrt over those (R, n, n+k) pairs dominates a step.
        """
        if self.train_second_layer:
            return self._loss_and_grad_general(theta)[1]
        return self._lean(theta, with_loss=False)[1]

    def fused_gd(
        self,
        theta: torch.Tensor,
        lr: float,
        *,
        grad_tol: float,
        max_steps: int,
        diverge: float,
        budget: int,
        steps: torch.Tensor,
    ) -> tuple[torch.Tensor, ...] | None:
        """Plain GD in compiled code (``FusedGD``): every row up to ``budget`` steps.

        Covers the fixed second layer in float64 on the CPU (the census's setting; the
        kernel is ``_relu_gd.gd_rows``, the same gradient as ``grad``); returns None
        otherwise, and the driver steps in torch. Returns (theta, grad, grad_norm, steps,
        status) as ``landscope.optim.run`` would record them after these steps.
        """
        if not self._compiled(theta):
            return None
        R = theta.shape[0]
        # outputs in torch's allocations (64-byte aligned, as MKL downstream likes them)
        W_t = theta.detach().reshape(R, self.n, self.d).clone(memory_format=torch.contiguous_format)
        G_t = torch.empty_like(W_t)
        gn_t = torch.empty(R, dtype=torch.float64)
        st_t = steps.detach().to(torch.int64).clone()  # advanced in place
        status_t = torch.zeros(R, dtype=torch.int64)
        W, G, gn, st, status = (x.numpy() for x in (W_t, G_t, gn_t, st_t, status_t))
        kernel = _relu_gd.gd_rows if self._threads(R) > 1 else _relu_gd.gd_rows_serial
        V = np.ascontiguousarray(self.V.numpy())
        kernel(W, V, float(lr), float(grad_tol), int(max_steps), float(diverge),
               int(budget), st, status, gn, G)  # fmt: skip
        return W_t.reshape(R, -1), G_t.reshape(R, -1), gn_t, st_t, status_t

    def _lean(
        self, theta: torch.Tensor, with_loss: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(loss or None, gradient) with the second layer fixed (a = 1, b = 1).

        With c_z = (1, ..., 1, -b) over z in [W; V], K(w, z) = |w||z| (sin t + (pi - t)
        cos t) / 2 pi and the sums over z, the loss is 1/2 sum_i sum_z c_z K(w_i, z) - 1/2
        sum_i sum_j b_j K(w_i, v_j) + K_VV = sum_i |w_i| / (4 pi) sum_z m_z |z| (c_z sin t
        + c_z (pi - t) cos t) + K_VV, with m_z = 1 on W and 2 on V (b = 1).
        """
        R = theta.shape[0]
        W = theta.reshape(R, self.n, self.d)
        nu = torch.linalg.vector_norm(W, dim=-1)  # (R, n)
        Z = torch.cat([W, self.V.expand(R, -1, -1)], dim=1)
        nz = torch.cat([nu, self._v_norm.expand(R, -1)], dim=1)
        tiny = torch.finfo(W.dtype).tiny
        cos = (W @ Z.transpose(1, 2)).div_((nu[:, :, None] * nz[:, None, :]).clamp_min_(tiny))
        cos.clamp_(-1.0, 1.0)
        sin = torch.sqrt(((1.0 - cos) * (1.0 + cos)).clamp_min_(0.0))
        A = torch.arccos(cos).neg_().add_(math.pi).mul_(self._coef_fixed)  # c_z (pi - t)
        s1 = sin @ (self._coef_fixed * nz)[..., None]  # (R, n, 1): sum_z c_z |z| sin t
        loss = None
        if with_loss:
            m = torch.cat([nz[:, : self.n], 2.0 * nz[:, self.n :]], dim=1)  # m_z |z|
            per = (sin * self._coef_fixed + A * cos) @ m[..., None]  # (R, n, 1)
            loss = (nu * per[..., 0]).sum(-1) / (2 * _TWO_PI) + self._kvv
        alive = nu > 0
        # A zero neuron would give 0 * (s1 / tiny) = 0 * inf; divide by 1 there instead.
        G = A @ Z + W * (s1 / torch.where(alive, nu, 1.0)[..., None])
        G = G * (alive.to(W.dtype)[..., None] / _TWO_PI)  # relu'(0) = 0 for zero neurons
        return loss, G.reshape(R, -1)

    def hessian(self, theta: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
        """Exact Hessian (R, P, P), built from the closed forms in row chunks.

        ``chunk`` rows at a time bound the memory of the (chunk, n, n, d, d) pair tensor;
        by default about 64 MB of it.
        """
        R = theta.shape[0]
        out = self._compiled_hessian(theta)
        if out is not None:
            return out
        if chunk is None:
            per_row = self.n * (self.n + self.k) * self.d * self.d * 8 * 3
            chunk = max(1, min(R, (64 << 20) // max(per_row, 1)))
        out = torch.empty(R, self.n_params, self.n_params, dtype=theta.dtype, device=theta.device)
        for lo in range(0, R, chunk):  # memory chunks, each one batched computation
            out[lo : lo + chunk] = self._hessian_rows(theta[lo : lo + chunk])
        return out

    def _compiled_hessian(self, theta: torch.Tensor) -> torch.Tensor | None:
        """The Hessian from the compiled kernel (``_relu_gd.hessian_rows``: the same closed
        forms, each d x d block formed once, exactly symmetric), where it applies: second
        layer fixed, float64 on the CPU. None elsewhere (the torch pass then)."""
        if not self._compiled(theta):
            return None
        R = theta.shape[0]
        W = np.ascontiguousarray(theta.detach().reshape(R, self.n, self.d).numpy())
        # torch's allocation, not numpy's: torch aligns to 64 bytes, and MKL's results on
        # it (the solves and eigvalsh downstream) depend on the alignment, so a numpy
        # buffer made reruns differ in the last bits
        H = torch.empty(R, self.n_params, self.n_params, dtype=torch.float64)
        kernel = _relu_gd.hessian_rows if self._threads(R) > 1 else _relu_gd.hessian_rows_serial
        kernel(W, np.ascontiguousarray(self.V.numpy()), H.numpy())
        return H

    def _compiled(self, theta: torch.Tensor) -> bool:
        """Whether the compiled kernels cover these rows: numba importable, the second
        layer fixed, float64 on the CPU (the census's setting), and not turned off by
        ``LANDSCOPE_FUSED=0`` (which also turns off the driver's compiled GD)."""
        return not (
            os.environ.get("LANDSCOPE_FUSED", "1") == "0"
            or _relu_gd is None
            or self.train_second_layer
            or self.dtype != torch.float64
            or theta.dtype != torch.float64
            or theta.device.type != "cpu"
            or theta.requires_grad
        )

    @staticmethod
    def _threads(rows: int) -> int:
        """Threads for a compiled call: as many as torch uses (one per worker under
        ``landscope run --jobs``), set on numba's pool when more than one."""
        threads = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS, rows)
        if threads > 1:
            numba.set_num_threads(threads)
        return threads

    def _hessian_rows(self, theta: torch.Tensor) -> torch.Tensor:
        W, a, Z, coef, pr = self._pieces(theta)
        R, n, d = W.shape
        eye = torch.eye(d, dtype=W.dtype, device=W.device)
        alive = (pr.nu > 0).to(W.dtype)  # (R, n)
        ub = pr.ubar  # (R, n, d)

        # d2K/du2 summed over z with weights c_z: the diagonal blocks.
        cz = pr.cos  # (R, n, m)
        q = pr.zbar[:, None, :, :] - cz[..., None] * ub[:, :, None, :]  # (R, n, m, d)
        sq = torch.linalg.vector_norm(q, dim=-1)  # accurate sin t
        self_pair = torch.zeros_like(sq, dtype=torch.bool)
        self_pair[:, torch.arange(n), torch.arange(n)] = True
        # Zero neurons and exactly parallel pairs are guarded with where(), not clamps: a
        # clamp to `tiny` overflows to inf and meets a zero factor (0 * inf = NaN). Both
        # limits are 0: the zero neuron's rows are masked, and q q'/s -> 0 as s -> 0.
        nu_safe = torch.where(pr.nu > 0, pr.nu, 1.0)
        wz = coef[:, None, :] * pr.nz[:, None, :] / (_TWO_PI * nu_safe[..., None])
        wz = wz.masked_fill(self_pair, 0.0)
        alpha = (wz * sq).sum(-1)  # (R, n)
        beta = torch.where(sq > 0, wz / torch.where(sq > 0, sq, 1.0), 0.0)
        D = alpha[..., None, None] * (eye - ub[..., :, None] * ub[..., None, :])
        D = D + torch.einsum("rizj,rizk->rijk", q * beta[..., None], q)  # (R, n, d, d)

        # d2K/dudv between student neurons: the a_i a_l blocks.
        cww = cz[:, :, :n]  # (R, n, n)
        p = ub[:, :, None, :] - cww[..., None] * ub[:, None, :, :]  # (R, n, n, d)
        sp = torch.linalg.vector_norm(p, dim=-1)
        t = torch.atan2(sp, cww)
        vb = ub[:, None, :, :].expand(R, n, n, d)
        outer = lambda x, y: x[..., :, None] * y[..., None, :]  # noqa: E731
        M = (math.pi - t)[..., None, None] * eye
        M = M + (sp * cww)[..., None, None] * outer(vb, vb)
        M = M + sp[..., None, None] * (outer(p, vb) + outer(vb, p))
        M = M - torch.where(sp > 0, cww / torch.where(sp > 0, sp, 1.0), 0.0)[
            ..., None, None
        ] * outer(p, p)
        M = M / _TWO_PI
        both = alive[:, :, None] * alive[:, None, :]
        M = M * (a[:, :, None] * a[:, None, :] * both)[..., None, None]  # (R, n, n, d, d)
        idx = torch.arange(n, device=W.device)
        M[:, idx, idx] += (a * alive)[..., None, None] * D
        HW = M.permute(0, 1, 3, 2, 4).reshape(R, n * d, n * d)
        if not self.train_second_layer:
            return HW

        # second layer: d2F/da_i da_l = K(w_i, w_l); d2F/dw_i da_l = d_il S_i + a_i g(w_i, w_l)
        K = pr.kernel()[:, :, :n]
        S = self._g_sum(pr, Z, coef)  # (R, n, d)
        g = (
            pr.nz[:, None, :n, None] * pr.sin[:, :, :n, None] * ub[:, :, None, :]
            + (math.pi - pr.angle[:, :, :n, None]) * W[:, None, :, :]
        ) / _TWO_PI
        g = g * (a * alive)[:, :, None, None]  # (R, i, l, d)
        g[:, idx, idx] += S
        HWa = g.permute(0, 1, 3, 2).reshape(R, n * d, n)
        top = torch.cat([HW, HWa], dim=2)
        bottom = torch.cat([HWa.transpose(1, 2), K], dim=2)
        return torch.cat([top, bottom], dim=1)

    def hvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector products, one vector per row: (R, P)."""
        return (self.hessian(theta) @ v[..., None])[..., 0]

    # ------------------------------------------------------------ symmetry
    @property
    def symmetry(self) -> str:
        """The permutation group the loss is invariant under, as ``landscope.symmetry`` names it.

        ``"SnxSd"`` when the teacher is the identity (V = I, so k = d): W -> P W Q' for
        any permutations P of the n neurons and Q of the d inputs, since permuting the
        inputs permutes the teacher's neurons, and the loss does not see their order
        (Arjevani & Field 2020). ``"Sn"`` otherwise: W -> P W, neurons only (for the
        padded identity teacher, d > k, the inputs could still be permuted within the
        first k and within the rest; that group is not named here).
        """
        eye = torch.eye(self.d, dtype=self.V.dtype, device=self.V.device)
        if self.k == self.d and torch.equal(self.V, eye):
            return "SnxSd"
        return "Sn"

    def distance_to_global(self, theta: torch.Tensor) -> torch.Tensor | None:
        """Distance to the nearest global minimizer modulo neuron permutations.

        Exact for n = k (the global minimizers are the teacher's permutations: the
        optimal assignment of student to teacher neurons, scipy's
        ``linear_sum_assignment`` on squared distances). For n > k it is the distance to
        the nearest teacher padded with n - k zero neurons: a global minimizer, so an
        upper bound on the distance to the (larger) set of global minimizers, which also
        holds split teacher neurons. With a trained second layer, effective neurons
        a_i w_i are compared (relu(c u) = c relu(u) for c > 0). ``None`` when n < k;
        NaN for rows that are not finite.
        """
        if self.n < self.k:
            return None
        W, a = self.split(theta)
        U = (a[..., None] * W).detach().cpu().numpy()
        Tw, Ta = self.split(self.teacher_point())
        T = (Ta[..., None] * Tw)[0].cpu().numpy()
        # A diverged row's squares overflow to inf (numpy would warn); the loop below
        # gives such a row NaN, as it does a row that is not finite.
        with np.errstate(over="ignore", invalid="ignore"):
            cost = ((U[:, :, None, :] - T[None, None, :, :]) ** 2).sum(-1)  # (R, n, n)
        out = np.full(U.shape[0], np.nan)
        for r in range(U.shape[0]):  # scipy's assignment is per matrix; O(n^3) each
            if not np.isfinite(cost[r]).all():  # a diverged row has no distance
                continue
            i, j = linear_sum_assignment(cost[r])
            out[r] = math.sqrt(cost[r, i, j].sum())
        return torch.as_tensor(out, dtype=theta.dtype)
