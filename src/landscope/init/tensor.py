"""Tensor-method initialization for one-hidden-layer networks (Zhong et al., ICML 2017).

Model: x ~ N(0, I_d), y = sum_{i<=k} v_i phi(w_i . x) with |v_i| = 1 (for homogeneous
activations this is no loss of generality: v phi(w.x) = (v/c^p) phi(c w.x)). The
moments M_j = E[y He_j(x)] (He_j the Hermite tensors: M1 = E[y x], M2 = E[y (xx' - I)],
M3 = E[y (x^(x)3 - x (x)~ I)], M4 ...) equal sum_i v_i c_j(|w_i|) wbar_i^{(x) j} with
c_j(sigma) = E[phi(sigma z) He_j(z)] (``landscope.activations.hermite``). Some c_j vanish
for structural reasons (odd phi: c_2 = c_4 = 0; ReLU: c_3 = 0), so every step uses the
first order whose coefficient does not vanish (``hermite_orders``):

1. subspace: P2 = M_{j2}(I, I, a, ..., a), j2 = the first order >= 2, a a random unit
   vector (for j2 > 2, the sum of P2 P2 over k + 2 random a, so that no neuron nearly
   orthogonal to one a is lost); V (d x k) = eigenvectors of its k eigenvalues largest
   in magnitude;
2. directions: the k-dimensional tensor R3 = M_{j3}(V, V, V, a', ...), j3 = the first
   order >= 3, is decomposed by simultaneous diagonalization (Jennrich's algorithm:
   the eigenvectors of R3(I, I, b) R3(I, I, c)^-1 are the u_i; the best of ``trials``
   random (b, c)), each refined by symmetric alternating least squares on the full
   M_{j3}(V, ..., V); the refined trial with the smallest residual wins; wbar_i = V u_i;
3. magnitudes and signs: for every non-vanishing order j <= 4, least squares for
   beta_{j,i} in M_j(V, ..., V) = sum_i beta_{j,i} u_i^{(x) j}; then per neuron the
   (v_i, sign s_i, |w_i|) minimizing sum_j (beta_{j,i} - v_i s_i^j c_j(|w_i|))^2 over a
   fine grid of |w_i| in [0.02, 50];
4. magnitudes by least squares on the data, directions fixed: for a positively
   homogeneous phi of degree p, y ~ sum_i beta_i phi(wbar_i . x) is linear in beta, and
   v_i = sign beta_i, |w_i| = |beta_i|^(1/p) (for a phi that is not odd, the sign of
   wbar_i is chosen there too, fitting phi(wbar_i . x) and phi(-wbar_i . x) side by
   side and keeping the one with the larger weight); otherwise Gauss-Newton on the |w_i| from
   step 3 (v fixed). The moment fit of step 3 uses high-order moments whose noise
   dominates the initialization error; the data fit uses every sample at once.

Everything is batched over R data sets: moments by einsum over the samples, eigh, eig
and lstsq on (R, ...) stacks. In the k-dimensional subspace the Hermite tensors of x
projected by an orthonormal V are the Hermite tensors of z = V'x, so only k^j-sized
tensors are ever formed (k^4 = 625 for k = 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from .. import activations as acts
from ..optim import GaussNewton, Stop, run

__all__ = ["TensorInit", "align_signs", "tensor_init"]

SIGMA_RANGE = (0.02, 50.0)


@dataclass(frozen=True)
class TensorInit:
    """W (R, k, d) and v (R, k) from the tensor method; j2, j3 the moment orders used."""

    W: torch.Tensor
    v: torch.Tensor
    j2: int
    j3: int
    fit_orders: tuple[int, ...]


def _sym_pairs(order: int) -> list[tuple[tuple[int, int], tuple[int, ...]]]:
    """For He_order: every single pairing (pair, remaining slots)."""
    out = []
    for a in range(order):
        for b in range(a + 1, order):
            out.append(((a, b), tuple(i for i in range(order) if i not in (a, b))))
    return out


_LETTERS = "ijlm"


def _place(t: torch.Tensor, eye: torch.Tensor, pair, rest, order: int) -> torch.Tensor:
    """A tensor of the given order: eye on the slots ``pair``, t on the slots ``rest``."""
    R = t.shape[0]
    src = "r" + "".join(_LETTERS[i] for i in rest) if rest else "r"
    dst = "r" + _LETTERS[:order]
    e = _LETTERS[pair[0]] + _LETTERS[pair[1]]
    return torch.einsum(f"{src},{e}->{dst}", t, eye).reshape(R, *([eye.shape[0]] * order))


def _hermite_moments(Z: torch.Tensor, y: torch.Tensor, orders) -> dict[int, torch.Tensor]:
    """T_j = mean_s y_s He_j(z_s) as full (R, k, ..., k) tensors, for j in ``orders``.

    Variance reduction: since E[He_l(z) He_j(z)] = 0 for l != j, subtracting from y its
    empirical expansion in lower orders, sum_{l<j} <T_l, He_l(z)> / l!, leaves the
    expectation of T_j unchanged and removes the (large) lower-order part of y from its
    noise. For ReLU, whose y lives mostly in orders 0-2, this divides the error of the
    order-4 moment by several times (tests/init/test_tensor_init.py).
    """
    R, n, k = Z.shape
    eye = torch.eye(k, dtype=Z.dtype, device=Z.device)
    top = max(orders)
    out: dict[int, torch.Tensor] = {}
    yr = y - y.mean(1, keepdim=True)  # order 0 removed
    for j in range(1, top + 1):
        yw = yr / n
        if j == 1:
            t = torch.einsum("rn,rni->ri", yw, Z)
            fit = torch.einsum("ri,rni->rn", t, Z)
        elif j == 2:
            t = torch.einsum("rn,rni,rnj->rij", yw, Z, Z) - yw.sum(1)[:, None, None] * eye
            fit = 0.5 * (torch.einsum("rni,rij,rnj->rn", Z, t, Z) - _trace(t)[:, None])
        elif j == 3:
            m1 = torch.einsum("rn,rni->ri", yw, Z)
            t = torch.einsum("rn,rni,rnj,rnl->rijl", yw, Z, Z, Z)
            for pair, rest in _sym_pairs(3):
                t = t - _place(m1, eye, pair, rest, 3)
            tr = torch.einsum("rijj->ri", t)
            fit = (
                torch.einsum("rijl,rni,rnj,rnl->rn", t, Z, Z, Z)
                - 3 * torch.einsum("ri,rni->rn", tr, Z)
            ) / 6
        elif j == 4:
            m0 = yw.sum(1)
            m2 = torch.einsum("rn,rni,rnj->rij", yw, Z, Z)
            ZZ = torch.einsum("rni,rnj->rnij", Z, Z)
            t = torch.einsum("rn,rnij,rnlm->rijlm", yw, ZZ, ZZ)
            for pair, rest in _sym_pairs(4):
                t = t - _place(m2, eye, pair, rest, 4)
            I2 = torch.einsum("ij,lm->ijlm", eye, eye)
            dd = I2 + I2.permute(0, 2, 1, 3) + I2.permute(0, 2, 3, 1)
            t = t + m0[:, None, None, None, None] * dd
            fit = None
        else:
            raise ValueError(f"Hermite moments are implemented up to order 4, not {j}.")
        out[j] = t
        if fit is not None and j < top:
            yr = yr - fit
    return {j: out[j] for j in orders}


def _trace(t: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(t, dim1=-2, dim2=-1).sum(-1)


def _subspace_matrix(X: torch.Tensor, y: torch.Tensor, j2: int, a: torch.Tensor) -> torch.Tensor:
    """P2 = M_{j2}(I, I, a, ..., a) (R, d, d), symmetric."""
    R, n, d = X.shape
    eye = torch.eye(d, dtype=X.dtype, device=X.device)
    # variance reduction as in _hermite_moments: remove y's orders 0, 1 (and 2 when the
    # moment used is of order 3 or more), which leaves the expectation unchanged
    yr = y - y.mean(1, keepdim=True)
    yr = yr - torch.einsum("rni,ri->rn", X, torch.einsum("rn,rni->ri", yr / n, X))
    if j2 >= 3:
        M2 = torch.einsum("rn,rni,rnj->rij", yr / n, X, X) - (yr / n).sum(1)[:, None, None] * eye
        yr = yr - 0.5 * (torch.einsum("rni,rij,rnj->rn", X, M2, X) - _trace(M2)[:, None])
    yw = yr / n
    t = X @ a[:, :, None]  # (R, n, 1)
    t = t[..., 0]
    if j2 == 2:
        P = torch.einsum("rn,rni,rnj->rij", yw, X, X) - yw.sum(1)[:, None, None] * eye
    elif j2 == 3:
        m1 = torch.einsum("rn,rni->ri", yw, X)
        P = (
            torch.einsum("rn,rni,rnj->rij", yw * t, X, X)
            - (yw * t).sum(1)[:, None, None] * eye
            - m1[:, :, None] * a[:, None, :]
            - a[:, :, None] * m1[:, None, :]
        )
    elif j2 == 4:
        ytx = torch.einsum("rn,rni->ri", yw * t, X)
        P = (
            torch.einsum("rn,rni,rnj->rij", yw * (t * t - 1), X, X)
            - (yw * (t * t - 1)).sum(1)[:, None, None] * eye
            - 2 * (a[:, :, None] * ytx[:, None, :] + ytx[:, :, None] * a[:, None, :])
            + 2 * yw.sum(1)[:, None, None] * a[:, :, None] * a[:, None, :]
        )
    else:
        raise ValueError(f"no subspace estimate from a moment of order {j2}.")
    return 0.5 * (P + P.transpose(1, 2))


def _outer_powers(U: torch.Tensor, j: int) -> torch.Tensor:
    """Columns vec(u_i^{(x) j}): U (R, k, k) with u_i = U[:, :, i] -> (R, k^j, k)."""
    R, k, _ = U.shape
    out = U
    for _ in range(j - 1):
        out = torch.einsum("rai,rbi->rabi", out.reshape(R, -1, k), U)
    return out.reshape(R, k**j, k)


def _draw(gens: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal draws (R, *shape), row r from gens[r] (a shared generator is
    drawn from in row order)."""
    return torch.stack([torch.randn(shape, generator=g, dtype=torch.float64) for g in gens])


def _jennrich(
    T3: torch.Tensor, trials: int, gens: list[torch.Generator]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit u_i with T3 ~= sum_i s_i u_i^(x)3 from ``trials`` random pairs (b, c).

    Returns every trial's U (trials, R, k, k) (columns u_i) and its fit residual
    (trials, R)."""
    R, k = T3.shape[0], T3.shape[1]
    if k == 1:
        return torch.ones(1, R, 1, 1, dtype=T3.dtype), torch.zeros(1, R, dtype=T3.dtype)
    b = _draw(gens, (trials, k)).transpose(0, 1)  # (trials, R, k)
    c = _draw(gens, (trials, k)).transpose(0, 1)
    A = torch.einsum("rijl,trl->trij", T3, b)
    B = torch.einsum("rijl,trl->trij", T3, c)
    M = A @ torch.linalg.pinv(B)
    _, vecs = torch.linalg.eig(M)  # (t, R, k, k) complex
    U = vecs.real
    U = U / torch.linalg.vector_norm(U, dim=2, keepdim=True).clamp_min(1e-300)
    D = _outer_powers(U.reshape(trials * R, k, k), 3)
    rhs = T3.reshape(1, R, -1).expand(trials, R, -1).reshape(trials * R, -1, 1)
    coef = torch.linalg.lstsq(D, rhs).solution
    res = torch.linalg.vector_norm((D @ coef - rhs)[..., 0], dim=1).reshape(trials, R)
    res = torch.nan_to_num(res, nan=math.inf)
    return U, res  # (trials, R, k, k), (trials, R)


def _refine(T: torch.Tensor, U: torch.Tensor, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric alternating least squares for T ~= sum_i beta_i u_i^{(x) j}, from U.

    Each sweep solves the linear least squares for (U diag beta) with the other j - 1
    factors fixed at the current U: U diag(beta) <- T_(1) (U (.) ... (.) U) G^-1, with
    (.) the Khatri-Rao product and G = (U'U)^{*(j-1)} (Hadamard power), then
    renormalizes the columns. A sweep is kept only for rows whose residual it lowers.
    Returns the refined U and its residual ||T - sum_i beta_i u_i^{(x) j}|| per row.
    """
    R, k = U.shape[0], U.shape[1]
    j = T.ndim - 1
    Tm = T.reshape(R, k, -1)  # mode-1 unfolding (R, k, k^(j-1))

    def resid(U_: torch.Tensor) -> torch.Tensor:
        D = _outer_powers(U_, j)
        coef = torch.linalg.lstsq(D, T.reshape(R, -1, 1)).solution
        return torch.linalg.vector_norm((D @ coef)[..., 0] - T.reshape(R, -1), dim=1)

    best = resid(U)
    if iters == 0:
        return U, best
    for _ in range(iters):
        KR = _outer_powers(U, j - 1)  # (R, k^(j-1), k)
        G = (U.transpose(1, 2) @ U) ** (j - 1)
        A = torch.linalg.lstsq(G.transpose(1, 2), (Tm @ KR).transpose(1, 2)).solution
        A = A.transpose(1, 2)  # (R, k, k): columns beta_i u_i
        new = A / torch.linalg.vector_norm(A, dim=1, keepdim=True).clamp_min(1e-300)
        new = new * torch.where((new * U).sum(1, keepdim=True) < 0, -1.0, 1.0)
        # the full sweep can overshoot near non-orthogonal decompositions: rows it does
        # not improve try half, then a quarter of it (otherwise they would repeat the
        # same rejected sweep forever)
        for frac in (1.0, 0.5, 0.25):
            cand = U + frac * (new - U)
            cand = cand / torch.linalg.vector_norm(cand, dim=1, keepdim=True).clamp_min(1e-300)
            r = resid(cand)
            ok = torch.isfinite(r) & (r < best)
            U = torch.where(ok[:, None, None], cand, U)
            best = torch.where(ok, r, best)
    return U, best


@lru_cache(maxsize=32)
def _coefficient_grid(act: acts.Activation, orders: tuple[int, ...]):
    """c_j(sigma) for j in orders on a fine log grid of sigma (spline of 121 quadratures)."""
    coarse = np.logspace(math.log10(SIGMA_RANGE[0]), math.log10(SIGMA_RANGE[1]), 121)
    fine = np.logspace(math.log10(SIGMA_RANGE[0]), math.log10(SIGMA_RANGE[1]), 4001)
    cols = []
    for j in orders:
        vals = np.array([acts.hermite(act, j, s) for s in coarse])
        cols.append(CubicSpline(np.log(coarse), vals)(np.log(fine)))
    return torch.from_numpy(fine), torch.from_numpy(np.stack(cols, axis=1))  # (G,), (G, J)


def _resolve_pair_signs(act, y, v, s, sig):
    """Odd-order moments cannot tell (v, w) from (-v, -w). For odd phi the two compute the
    same function; when phi minus a constant is odd (sigmoid) they differ by v c_0, and
    the pattern of flips whose sum_i v_i c_0(|w_i|) best matches mean(y) is chosen
    (2^k patterns, k small). Only the count of flips is identifiable this way."""
    R, k = v.shape
    grid, C0 = _coefficient_grid(act, (0,))
    c0 = torch.from_numpy(np.interp(sig.numpy(), grid.numpy(), C0[:, 0].numpy()))
    if float(c0.abs().max()) <= 1e-12 or k > 12:
        return v, s
    pats = torch.tensor(
        [[1.0 - 2.0 * ((p >> i) & 1) for i in range(k)] for p in range(2**k)],
        dtype=torch.float64,
    )  # (2^k, k)
    pred = ((pats[None] * v[:, None, :]) * c0[:, None, :]).sum(-1)  # (R, 2^k)
    best = (pred - y.mean(1)[:, None]).abs().argmin(1)
    flip = pats[best]
    return v * flip, s * flip


class _Magnitudes:
    """Least squares in the magnitudes s (R, k) of fixed directions: the residual of run r
    is sum_i v_i phi(s_i wbar_i . x) - y over its n samples (rows own their data)."""

    def __init__(self, act, T: torch.Tensor, v: torch.Tensor, y: torch.Tensor) -> None:
        self.act, self.T, self.v, self.y = act, T, v, y

    def select(self, rows: torch.Tensor) -> _Magnitudes:
        return _Magnitudes(self.act, self.T[rows], self.v[rows], self.y[rows])

    def residuals(self, sig: torch.Tensor) -> torch.Tensor:
        return (self.act.phi(sig[:, None, :] * self.T) * self.v[:, None, :]).sum(-1) - self.y

    def residuals_and_jacobian(self, sig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        S = sig[:, None, :] * self.T
        r = (self.act.phi(S) * self.v[:, None, :]).sum(-1) - self.y  # (R, n)
        return r, self.act.dphi(S) * self.T * self.v[:, None, :]  # (R, n, k)


def _fit_magnitudes(act, X, y, wbar, v, sig, iters: int = 20):
    """Step 4 of ``tensor_init`` (see its docstring); returns (v, |w|) as (R, k) each."""
    T = X @ wbar.transpose(1, 2)  # (R, n, k): wbar_i . x
    if act.degree is not None:
        if not acts.is_odd(act):
            # phi(wbar.x) and phi(-wbar.x) are different features (ReLU: their difference
            # is linear): fit both, keep per neuron the direction with the larger weight
            both = torch.linalg.lstsq(act.phi(torch.cat([T, -T], -1)), y[..., None]).solution
            bp, bm = both[:, : T.shape[-1], 0], both[:, T.shape[-1] :, 0]
            flip = bm.abs() > bp.abs()
            T = torch.where(flip[:, None, :], -T, T)
            wbar.mul_(torch.where(flip, -1.0, 1.0)[:, :, None])
        F = act.phi(T)
        beta = torch.linalg.lstsq(F, y[..., None]).solution[..., 0]  # (R, k)
        ok = torch.isfinite(beta) & (beta != 0)
        v_new = torch.where(ok, torch.sign(beta), v)
        sig_new = torch.where(ok, beta.abs() ** (1.0 / act.degree), sig)
        return v_new, sig_new.clamp(SIGMA_RANGE[0], SIGMA_RANGE[1])
    # Gauss-Newton with a tiny ridge on the k magnitudes of every run, under the driver
    fit = _Magnitudes(act, T, v, y)
    method = GaussNewton(ridge=1e-8, lower=SIGMA_RANGE[0], upper=SIGMA_RANGE[1])
    res = run(fit, sig, method, stop=Stop(grad_tol=None, max_steps=iters, diverge=math.inf))
    return v, res.theta


def tensor_init(
    X: torch.Tensor,
    y: torch.Tensor,
    k: int,
    activation: str | acts.Activation = "relu",
    *,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    trials: int = 8,
    refine: int = 30,
    data_fit: bool = True,
) -> TensorInit:
    """Initialize W and v of a k-neuron network from samples (X, y) by the tensor method.

    Args:
        X: inputs (n, d) or (R, n, d) (R independent data sets), assumed N(0, I_d).
        y: outputs (n,) or (R, n).
        k: hidden units, 1 <= k <= d.
        activation: a registered activation or name.
        generator: for the random contraction vectors: one generator for every data
            set, or one per data set (then a run's draws depend on its own generator
            only, whatever else is in the batch); default: seeded with 0.
        trials: random pairs tried in the simultaneous diagonalization.
        refine: sweeps of symmetric alternating least squares on the full order-j3
            moment after the diagonalization (0: none). The diagonalization alone uses a
            contraction of the moment and loses accuracy when it is noisy (M4, ReLU).
        data_fit: refine magnitudes (and, for homogeneous activations, the signs of v)
            by least squares on the samples themselves, directions fixed (step 4).

    Returns:
        TensorInit with W (R, k, d), v (R, k) (R = 1 for unbatched input).

    Raises:
        ValueError: bad shapes, NaN data, k > d, or an activation whose Hermite
            coefficients vanish at every order >= 2 or >= 3 (linear, quadratic): the
            tensor method cannot see the neurons.
    """
    act = acts.get(activation)
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if X.ndim == 2:
        X, y = X[None], y[None]
    if X.ndim != 3 or y.shape != X.shape[:2]:
        raise ValueError(
            f"need X (n, d) and y (n,), or batched; got {tuple(X.shape)}, {tuple(y.shape)}."
        )
    if not (bool(torch.isfinite(X).all()) and bool(torch.isfinite(y).all())):
        raise ValueError("the data contain NaN or infinite values.")
    R, n, d = X.shape
    if not (1 <= k <= d):
        raise ValueError(f"the tensor method needs 1 <= k <= d; got k = {k}, d = {d}.")
    orders = acts.hermite_orders(act)
    j2 = next((j for j in orders if j >= 2), None)
    j3 = next((j for j in orders if j >= 3), None)
    if j2 is None or j3 is None:
        raise ValueError(
            f"the tensor method needs non-vanishing Hermite coefficients of orders >= 2 and "
            f">= 3; {act.name} has only order(s) {', '.join(map(str, orders)) or 'none'}."
        )
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    gens = [generator] * R if isinstance(generator, torch.Generator) else list(generator)
    if len(gens) != R:
        raise ValueError(f"got {len(gens)} generators for {R} data sets.")

    if j2 == 2:
        a = _draw(gens, (d,))
        P2 = _subspace_matrix(X, y, 2, a / torch.linalg.vector_norm(a, dim=1, keepdim=True))
    else:
        # one contraction M_j2(I, I, a) weights neuron i by (u_i . a)^(j2 - 2) and loses
        # a neuron nearly orthogonal to a: sum the squares of k + 2 contractions instead
        # (their column spaces all lie in span(W*), and no neuron is missed by all)
        P2 = torch.zeros(R, d, d, dtype=torch.float64)
        for _ in range(k + 2):
            a = _draw(gens, (d,))
            Pt = _subspace_matrix(X, y, j2, a / torch.linalg.vector_norm(a, dim=1, keepdim=True))
            P2 = P2 + Pt @ Pt
    evals, evecs = torch.linalg.eigh(P2)
    top = evals.abs().argsort(dim=1, descending=True)[:, :k]
    V = torch.gather(evecs, 2, top[:, None, :].expand(R, d, k))  # (R, d, k)
    Z = X @ V  # (R, n, k)

    fit_orders = tuple(j for j in orders if j <= 4)
    T = _hermite_moments(Z, y, sorted(set(fit_orders) | {j3}))
    if j3 == 3:
        T3 = T[3]
    else:
        a2 = _draw(gens, (k,))
        a2 = a2 / torch.linalg.vector_norm(a2, dim=1, keepdim=True)
        T3 = torch.einsum("rijlm,rm->rijl", T[4], a2)
    Us, _ = _jennrich(T3, trials, gens)  # (trials, R, k, k), columns u_i
    nt = Us.shape[0]
    Tj = T[j3].expand(nt, *T[j3].shape).reshape(nt * R, *T[j3].shape[1:])
    Us, res = _refine(Tj, Us.reshape(nt * R, k, k), refine)  # every trial refined
    best = torch.nan_to_num(res.reshape(nt, R), nan=math.inf).argmin(0)
    U = Us.reshape(nt, R, k, k)[best, torch.arange(R)]

    betas = []
    for j in fit_orders:
        D = _outer_powers(U, j)
        betas.append(torch.linalg.lstsq(D, T[j].reshape(R, -1, 1)).solution[..., 0])
    beta = torch.stack(betas, dim=-1)  # (R, k, J)

    grid, C = _coefficient_grid(act, fit_orders)  # (G,), (G, J)
    # A neuron's output variance is at most the data's (up to cancellations between
    # neurons, allowed for by the factor k): caps |w_i| where near-collinear directions
    # make the least-squares betas explode.
    phi2 = acts.gaussian_expectation(lambda z: act.phi(z) ** 2, kinks=act.kinks)
    scale = torch.sqrt(4.0 * k * y.square().mean(1) / max(phi2, 1e-12))  # (R,)
    allowed = grid[None, :] <= torch.maximum(scale, grid[0:1])[:, None]  # (R, G)
    pw = torch.tensor(fit_orders, dtype=torch.float64)
    best_err = torch.full((R, k), math.inf, dtype=torch.float64)
    best_sig = torch.ones(R, k, dtype=torch.float64)
    best_v = torch.ones(R, k, dtype=torch.float64)
    best_s = torch.ones(R, k, dtype=torch.float64)
    for vs, ss in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
        model = vs * (ss**pw) * C  # (G, J)
        err = ((beta[:, :, None, :] - model[None, None]) ** 2).sum(-1)  # (R, k, G)
        err = torch.where(allowed[:, None, :], err, math.inf)
        e, gi = err.min(-1)
        better = e < best_err
        best_err = torch.where(better, e, best_err)
        best_sig = torch.where(better, grid[gi], best_sig)
        best_v = torch.where(better, torch.full_like(e, vs), best_v)
        best_s = torch.where(better, torch.full_like(e, ss), best_s)
    if all(j % 2 == 1 for j in fit_orders):
        best_v, best_s = _resolve_pair_signs(act, y, best_v, best_s, best_sig)
    wbar = torch.einsum("rdk,rki->rid", V, U) * best_s[:, :, None]  # (R, k, d)
    if data_fit:
        best_v, best_sig = _fit_magnitudes(act, X, y, wbar, best_v, best_sig)
    W = best_sig[:, :, None] * wbar
    # canonical neuron order (largest norm first): trials that converge to the same
    # decomposition may list its components in any order
    order = torch.argsort(-best_sig, dim=1, stable=True)
    W = torch.gather(W, 1, order[:, :, None].expand_as(W))
    best_v = torch.gather(best_v, 1, order)
    return TensorInit(W=W, v=best_v, j2=j2, j3=j3, fit_orders=fit_orders)


def align_signs(
    W: torch.Tensor, v: torch.Tensor, v_target: torch.Tensor, odd: bool
) -> torch.Tensor:
    """Reorder the neurons of W (R, k, d) so that their signs v match ``v_target`` (R, k).

    Neurons are matched in order within each sign; when the counts differ, the leftover
    neurons fill the leftover slots, negated if the activation is odd ((v, w) and
    (-v, -w) then compute the same function). Used to start training with the known
    second layer v* from an initialization whose v was estimated.
    """
    src = torch.argsort(v, dim=1, stable=True)
    dst = torch.argsort(v_target, dim=1, stable=True)
    Wsrc = torch.gather(W, 1, src[:, :, None].expand_as(W))
    vsrc = torch.gather(v, 1, src)
    out = torch.empty_like(W)
    flip = (vsrc != torch.gather(v_target, 1, dst)) & odd
    Wsrc = torch.where(flip[:, :, None], -Wsrc, Wsrc)
    out.scatter_(1, dst[:, :, None].expand_as(W), Wsrc)
    return out
