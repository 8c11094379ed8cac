"""Bivariate Gaussian expectations E[f(u) f(v)] for every pair of a covariance matrix.

(u, v) ~ N(0, [[S_ii, S_ij], [S_ij, S_jj]]) for every pair (i, j) of a covariance matrix
S (..., n, n), float64, with t the angle of the pair (cos t = S_ij / sqrt(S_ii S_jj)).
``expectations`` gives (E[phi(u) phi(v)], E[phi'(u) phi'(v)]) from a closed form
(``dual``) where the caller has one, and by quadrature otherwise:

Quadrature
----------
Polar coordinates: u = r sd_i cos s, v = r sd_j cos(s - t), under the measure
r e^(-r^2/2) dr ds / (2 pi) (sd = the square root of the variance). The radius takes the
Gauss rule for the weight r e^(-r^2/2) on [0, inf) (``quadrature.radial_gauss``; the
integrands are smooth in r; a Gauss rule beat composite rules of the same size by 1e3 to
1e5). Its size grows with the largest sd (``RADIAL_NODES``), since the activation's
features shrink like 1 / sd.

* Smooth functions (no kinks; ``fourier``): for each radius the angular integral is a
  circular correlation of F_i(s) = f(r sd_i cos s) with F_j, so with their cosine
  coefficients (FFT of an equispaced sample; exponentially accurate for analytic periodic
  functions)

      E_ij = sum_r w_r 2 pi (Fh_ir0 Fh_jr0 + 2 sum_{m >= 1} Fh_irm Fh_jrm T_m(cos t_ij)),

  T_m the Chebyshev polynomials (cos(m t) = T_m(cos t), by their recurrence). For each
  mode m the sum over r is a matrix product, so the cost is about n^2 (radial + 5) / 2
  multiply-adds per mode and no transcendental function per pair (n = 2000, tanh, unit
  norms: ~50 modes, about a second per kernel on one core). Modes are kept while some
  row's mode carries more than ``MODE_TOL`` of that row's total (the neglected terms are
  ~1e-17 of sqrt(E_ii E_jj)); the sample doubles (reusing its points) until the kept modes
  sit below a quarter of it, so nothing aliases. Rows with equal variance share their
  coefficients. Agreement with independent references (tensor Gauss-Hermite at small
  variance, the sector rule below with many nodes) is ~1e-15 at unit variance for tanh,
  erf, gelu, softplus and sigmoid; see ``RADIAL_NODES`` for larger ones.
* Functions with kinks (``sectors``): Fourier coefficients of a kink decay only
  algebraically, so instead the lines u = 0 and v = 0 cut the circle into four sectors of
  openings t, pi - t, t, pi - t, each with ``angular`` Gauss-Legendre nodes, pair by
  pair. Kinks at 0 are then integrated exactly (relu through this path matches its closed
  form to 1e-14; softsign is within 1e-13 of a 4x finer rule at unit variance, 2e-8 at
  variance 9); kinks elsewhere are not split, and are accurate to the grid's resolution
  only. This path evaluates f at 4 x angular x radial points per pair (i <= j): ~15 s
  for an NTK of n = 300 points.

Closed forms and the Fourier rule run over blocks of pairs (``_BLOCK_ELEMS``) of the upper
triangle and mirror them, so memory beyond the outputs stays at a few blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .arccos import covariance_cosines
from .dual import DualForm, Pair
from .quadrature import legendre01, radial_gauss

__all__ = [
    "ANGULAR_NODES",
    "MAX_RADIAL",
    "METHODS",
    "MODE_TOL",
    "RADIAL_NODES",
    "expectations",
    "fourier",
    "radial_nodes",
    "sectors",
]

Fn = Callable[[torch.Tensor], torch.Tensor]

# Gauss nodes for the weight r e^(-r^2/2) on [0, inf), by the largest standard deviation:
# the activation's features shrink like 1 / sd, and the rule must resolve them. Measured
# on tanh' (the hardest built-in), relative error: sd 3: 2e-12 (48 nodes); sd 10: 1e-12
# (96); sd 30: 8e-16 and sd 100: 2e-13 (160). 160 is the most the 832-point
# discretization behind the rule supports.
RADIAL_NODES = ((3.0, 48), (10.0, 96), (math.inf, 160))
MAX_RADIAL = 160
ANGULAR_NODES = 32  # Gauss-Legendre nodes per sector (kinked functions; four sectors)
MODE_TOL = 1e-17  # a Fourier mode is dropped below this fraction of its row's total
METHODS = ("auto", "closed_form", "quadrature")
_MIN_SAMPLES, _MAX_SAMPLES = 64, 1 << 15
# Bytes of one float64 working tensor of the quadrature (a few are alive at once).
_WORK_BYTES = 16 << 20
# Pairs per block of the closed forms and the Fourier rule (8 MB per working tensor).
_BLOCK_ELEMS = 1 << 20
# Largest coefficient table of the Fourier rule (modes x points x radial nodes, float64):
# unit-norm inputs need ~50 modes (n = 2000: 40 MB); only inputs of norm ~100 come near.
_MAX_COEF_BYTES = 4 << 30


def radial_nodes(sd_max: float) -> int:
    """The default radial rule size for inputs whose largest standard deviation is sd_max."""
    return next(q for bound, q in RADIAL_NODES if sd_max <= bound)


def _block_size(S: torch.Tensor) -> int:
    batch = max(1, S[..., 0, 0].numel())
    return max(1, math.isqrt(max(1, _BLOCK_ELEMS // batch)))


def _by_blocks(S: torch.Tensor, phi: bool, dphi: bool, fn) -> Pair:
    """Fill (E_phi, E_dphi) block by block over the upper triangle; mirror the rest.

    ``fn(I, J)`` returns the two blocks (or None) for row slice I and column slice J. Only
    blocks with J at or right of I are computed (half the work), and every working tensor
    is one block, so memory beyond the outputs stays at a few times ``_BLOCK_ELEMS``.
    """
    n = S.shape[-1]
    b = _block_size(S)
    outs = [S.new_empty(S.shape) if want else None for want in (phi, dphi)]
    cuts = [slice(lo, min(lo + b, n)) for lo in range(0, n, b)]
    for k, I in enumerate(cuts):
        for J in cuts[k:]:
            for out, blk in zip(outs, fn(I, J), strict=True):
                if out is None:
                    continue
                if I == J:  # products of BLAS blocks need not be bitwise symmetric
                    blk = 0.5 * (blk + blk.transpose(-1, -2))
                out[..., I, J] = blk
                if I != J:
                    out[..., J, I] = blk.transpose(-1, -2)
    return outs[0], outs[1]


def _half_samples(fn, rho: torch.Tensor, M: int, old: torch.Tensor | None) -> torch.Tensor:
    """fn(rho cos s_k) at s_k = 2 pi k / M for k = 0..M/2 (the rest mirror: cos is even),
    reusing the samples ``old`` of the grid M/2, which are every other point of this one."""
    if old is None:
        k = torch.arange(M // 2 + 1, dtype=rho.dtype, device=rho.device)
        return fn(rho[..., None] * torch.cos(k * (2 * math.pi / M)))
    k = torch.arange(M // 4, dtype=rho.dtype, device=rho.device)
    new = rho.new_empty(*rho.shape, M // 2 + 1)
    new[..., 0::2] = old
    new[..., 1::2] = fn(rho[..., None] * torch.cos((2 * k + 1) * (2 * math.pi / M)))
    return new


def _coefficients(fn, sd: torch.Tensor, radial: int) -> torch.Tensor:
    """Scaled cosine coefficients A (..., modes, n, radial) of s -> fn(r sd_i cos s).

    A_mir = sqrt(2 pi w_r c_m) Fh_irm with c_0 = 1, c_m = 2: then
    E_ij = sum_m T_m(cos t_ij) sum_r A_mir A_mjr. Rows with equal sd (every row, for
    inputs of equal norm) are computed once.
    """
    r, wr = (x.to(sd.device) for x in radial_gauss(radial))
    uniq, inverse = torch.unique(sd.reshape(-1), return_inverse=True)
    weight = torch.sqrt(2 * math.pi * wr)[:, None]
    blocks, modes, lo, start = [], 1, 0, _MIN_SAMPLES
    while lo < uniq.numel():
        # unique values ascend, so the sample size needed grows block to block: start each
        # block at the last one's and size it to keep a block's samples near _WORK_BYTES
        rows = max(1, _WORK_BYTES // (8 * radial * start))
        rho = uniq[lo : lo + rows, None] * r  # (rows, radial)
        lo += rows
        M, half = start, None
        while True:
            half = _half_samples(fn, rho, M, half)
            full = torch.cat([half, half[..., 1 : M // 2].flip(-1)], dim=-1)  # (rows, radial, M)
            A = torch.fft.rfft(full, dim=-1).real * (weight / M)
            A[..., 1:] *= math.sqrt(2.0)
            power = (A * A).sum(-2)  # (rows, modes): each mode's share of E_ii
            keep = power > MODE_TOL * power.sum(-1, keepdim=True)
            idx = torch.arange(power.shape[-1], device=sd.device)
            need = int(torch.where(keep, idx, 0).max()) + 1
            if need <= M // 4:  # the kept modes are far from aliasing
                break
            if M >= _MAX_SAMPLES:
                raise ValueError(
                    f"the kernel needs more than {_MAX_SAMPLES // 4} Fourier modes at "
                    f"variance {float(rho[:, 0].max() / r[0]) ** 2:.3g}; rescale the inputs "
                    "toward unit norm."
                )
            M *= 2
        modes, start = max(modes, need), M
        blocks.append(A)
    size = modes * sd.numel() * radial * 8
    if size > _MAX_COEF_BYTES:
        raise ValueError(
            f"the kernel of these inputs needs {modes} Fourier modes x {radial} radial nodes "
            f"for each of {sd.numel()} points ({size / 2**30:.1f} GiB); rescale the inputs "
            "toward unit norm."
        )
    # blocks sampled more coarsely hold fewer modes; theirs beyond are below MODE_TOL
    A = torch.cat([F.pad(b[..., :modes], (0, modes - min(modes, b.shape[-1]))) for b in blocks])
    A = A[inverse.reshape(-1)]  # (rows of sd, radial, modes)
    return A.reshape(*sd.shape, radial, modes).movedim(-1, -3).contiguous()


def _fourier_block(A: torch.Tensor, cos: torch.Tensor, I: slice, J: slice) -> torch.Tensor:
    """sum_m T_m(cos) (A_m[I] A_m[J]') for one block of pairs (the module docstring)."""
    E = torch.zeros_like(cos)
    t_prev, t_cur = torch.ones_like(cos), cos.clone()
    two_cos = 2 * cos
    for m in range(A.shape[-3]):
        C = A[..., m, I, :] @ A[..., m, J, :].transpose(-1, -2)
        if m == 0:
            E += C
            continue
        if m >= 2:  # T_m = 2 cos T_{m-1} - T_{m-2}, in place
            t_prev.neg_().addcmul_(two_cos, t_cur)
            t_prev, t_cur = t_cur, t_prev
        E.addcmul_(C, t_cur)
    return E


def _default_radial(var: torch.Tensor, radial: int | None) -> int:
    if radial is not None:
        return radial
    return radial_nodes(math.sqrt(float(var.max())) if var.numel() else 0.0)


def fourier(fn: Fn, S: torch.Tensor, *, radial: int | None = None) -> torch.Tensor:
    """E[fn(u) fn(v)] for every pair of S (..., n, n), fn smooth (see the module docstring)."""
    var = torch.diagonal(S, dim1=-2, dim2=-1).clamp_min(0.0)
    A = _coefficients(fn, torch.sqrt(var), _default_radial(var, radial))  # (.., modes, n, radial)

    def block(I: slice, J: slice):
        _, cos = covariance_cosines(S[..., I, J], var[..., I], var[..., J])
        return _fourier_block(A, cos, I, J), None

    return _by_blocks(S, True, False, block)[0]


def sectors(
    fn: Fn,
    S: torch.Tensor,
    *,
    angular: int = ANGULAR_NODES,
    radial: int | None = None,
    chunk: int | None = None,
) -> torch.Tensor:
    """E[fn(u) fn(v)] for every pair of S (..., n, n), the circle split at u = 0 and v = 0."""
    n = S.shape[-1]
    var = torch.diagonal(S, dim1=-2, dim2=-1).clamp_min(0.0)
    radial = _default_radial(var, radial)
    iu, ju = torch.triu_indices(n, n, device=S.device)  # i <= j; the rest by symmetry
    vi, vj = var[..., iu].reshape(-1), var[..., ju].reshape(-1)
    prod = torch.sqrt(vi * vj)  # as in covariance_cosines, for flat pairs
    tiny = torch.finfo(S.dtype).tiny
    c = torch.where(prod > 0, S[..., iu, ju].reshape(-1) / prod.clamp_min(tiny), 0.0)
    c = c.clamp_(-1.0, 1.0)
    sdi, sdj = torch.sqrt(vi), torch.sqrt(vj)
    x, wx = (v.to(S.device) for v in legendre01(angular))
    r, wr = (v.to(S.device) for v in radial_gauss(radial))
    step = chunk or max(1, _WORK_BYTES // (8 * 4 * angular * radial))
    vals = []
    for lo in range(0, c.numel(), step):
        t = torch.arccos(c[lo : lo + step])
        quarter = torch.full_like(t, math.pi / 2)
        start = torch.stack([-quarter, t - quarter, quarter, t + quarter], dim=-1)  # (P, 4)
        length = torch.stack([t, math.pi - t, t, math.pi - t], dim=-1)
        s = (start[..., None] + length[..., None] * x).flatten(-2)  # (P, 4 angular)
        ws = (length[..., None] * wx).flatten(-2)
        u = (sdi[lo : lo + step, None] * torch.cos(s))[..., None] * r  # (P, 4 angular, radial)
        v = (sdj[lo : lo + step, None] * torch.cos(s - t[:, None]))[..., None] * r
        vals.append(((fn(u) * fn(v)) @ wr * ws).sum(-1))
    flat = torch.cat(vals).reshape(*S.shape[:-2], -1)
    E = S.new_empty(S.shape)
    E[..., iu, ju] = flat
    E[..., ju, iu] = flat
    return E


def expectations(
    phi_fn: Fn,
    dphi_fn: Fn,
    S: torch.Tensor,
    *,
    kinks: Sequence[float] = (),
    form: DualForm | None = None,
    phi: bool = True,
    dphi: bool = True,
    method: str = "auto",
    radial: int | None = None,
    angular: int = ANGULAR_NODES,
) -> Pair:
    """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) for every pair of S (..., n, n).

    Args:
        phi_fn, dphi_fn: phi and phi' on float64 tensors.
        S: covariance matrices (..., n, n), symmetric.
        kinks: where phi' or phi'' jumps; any kink sends the quadrature to ``sectors``
            (split at 0), none to ``fourier``.
        form: the closed form of the pair (``dual``), or None.
        phi, dphi: which of the two expectations to compute (the other comes back None).
        method: ``"auto"`` (``form`` where given, else quadrature), ``"closed_form"``
            (``form``, which must be given) or ``"quadrature"``.
        radial: Gauss nodes in the radius (default by the largest variance,
            ``RADIAL_NODES``).
        angular: Gauss-Legendre nodes per sector (kinked functions only).

    Raises:
        ValueError: method is ``"closed_form"`` and ``form`` is None.
    """
    if method == "closed_form" and form is None:
        raise ValueError("method='closed_form' needs a closed form; none was given.")
    if method != "quadrature" and form is not None:
        var = torch.diagonal(S, dim1=-2, dim2=-1).clamp_min(0.0)

        def block(I: slice, J: slice) -> Pair:
            return form(S[..., I, J], var[..., I], var[..., J], phi, dphi)

        return _by_blocks(S, phi, dphi, block)
    if kinks:
        run = lambda fn: sectors(fn, S, angular=angular, radial=radial)  # noqa: E731
    else:
        run = lambda fn: fourier(fn, S, radial=radial)  # noqa: E731
    return (run(phi_fn) if phi else None), (run(dphi_fn) if dphi else None)
