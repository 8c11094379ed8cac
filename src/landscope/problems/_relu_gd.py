"""Plain gradient descent and the Hessian of the closed-form ReLU teacher-student loss,
compiled (numba).

The batched torch step costs ~40 small tensor operations whatever the batch size, so
once a cell's working batch is down to a few slow rows (a census at k = 20 spends most
of its iterations on fewer than 64 of 1,000 rows) each step is dispatch latency, not
arithmetic. This kernel runs every row's GD loop to its end in compiled code, rows in
parallel, with the same gradient (``ReluTeacherStudent._lean``: second layer fixed to
ones) and the same stopping rule as ``landscope.optim.run`` with ``GD(lr)``: at each
iterate, diverged if ||grad|| is not <= ``diverge``, converged if ||grad|| <=
``grad_tol``, out of budget if the row has taken ``max_steps`` steps; otherwise a step.
``hessian_rows`` is the closed-form Hessian of ``ReluTeacherStudent._hessian_rows`` for
Newton polishing and certification, one pass per row instead of the torch pass's
(R, n, n, d, d) pair tensors (5.5x at k = 20).

Compiled on first use and cached on disk by numba (``cache=True``: beside this file, or
in the user's cache folder where the package is read-only).
"""

from __future__ import annotations

import math

import numba
import numpy as np

RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
_TWO_PI = 2.0 * math.pi
# No fast-math flags. Reassociated sums made the results depend on the alignment of the
# input buffers (a vectorized loop peels a different number of leading elements), so a
# resumed study differed from an uninterrupted one in the last bits; the loops are laid
# out to vectorize without them. Never "no NaNs / no infs" either: a NaN gradient is how
# a diverged row is seen. IEEE division (error_model="numpy"): x / 0 is inf, not an error.
_FAST: set[str] = set()


# asin(y) = y + y R(y^2) on [0, 1/2], R a rational approximation (the coefficients of
# fdlibm's e_asin.c / e_acos.c, error below one ulp on that interval).
_PS = (
    1.66666666666666657415e-01,
    -3.25565818622400915405e-01,
    2.01212532134862925881e-01,
    -4.00555345006794114027e-02,
    7.91534994289814532176e-04,
    3.47933107596021167570e-05,
)
_QS = (
    -2.40339491173441421878e00,
    2.02094576023350569471e00,
    -6.88283971605453293030e-01,
    7.70381505559019352791e-02,
)


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy", inline="always")
def pi_minus_acos(x):  # pragma: no cover - compiled
    """pi - acos(x) for x in [-1, 1], within 4.5e-16 (one ulp of pi) of pi - math.acos(x).

    libm's acos is a scalar call of ~15 ns that numba cannot inline; this is a few
    multiplications, one division and one square root, inlined (~1 ns in a loop), and
    two thirds of a GD step's time at k = 20 went to acos. Reductions as fdlibm's:
    |x| <= 1/2: acos x = pi/2 - asin x; x > 1/2: acos x = 2 asin sqrt((1 - x)/2);
    x < -1/2: acos x = pi - 2 asin sqrt((1 + x)/2).
    """
    a = abs(x)
    small = a <= 0.5
    z = x * x if small else 0.5 * (1.0 - a)
    y = a if small else math.sqrt(z)
    p = z * (_PS[0] + z * (_PS[1] + z * (_PS[2] + z * (_PS[3] + z * (_PS[4] + z * _PS[5])))))
    q = 1.0 + z * (_QS[0] + z * (_QS[1] + z * (_QS[2] + z * _QS[3])))
    asn = y + y * (p / q)  # asin(y), y in [0, 1/2]
    # written as selects, not branches, so that a loop over it vectorizes
    big = (math.pi if x > 0.0 else 0.0) - math.copysign(2.0 * asn, x)
    return 0.5 * math.pi + math.copysign(asn, x) if small else big


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _grad_row(W, Z, ZT, zn, C, S, G):  # pragma: no cover - compiled
    """G = gradient of one row (n, d) at W, with a = b = 1; returns ||G||^2.

    Scratch: ``Z`` (n + k, d) = [W; V] and ``ZT`` its transpose (teacher part set by the
    caller), ``zn`` (n + k,) the norms (teacher part set by the caller), ``C`` and ``S``
    (n, n + k): the cosines, then c_z (pi - t) and c_z |z| sin t of every pair (student
    i, z). The inner loops run over contiguous axes without reductions where it matters
    (the dot products, the angles, A Z), so they vectorize without reassociated sums.
    """
    n, d = W.shape
    m = Z.shape[0]
    tiny = np.finfo(np.float64).tiny
    for i in range(n):
        s = 0.0
        for c in range(d):
            s += W[i, c] * W[i, c]
            ZT[c, i] = W[i, c]
            Z[i, c] = W[i, c]
        zn[i] = math.sqrt(s)
    for i in range(n):  # C = W Z' / (|w| |z|), a row at a time over z
        for z in range(m):
            C[i, z] = 0.0
        for c in range(d):
            w = W[i, c]
            for z in range(m):
                C[i, z] += w * ZT[c, z]
        for z in range(m):
            C[i, z] = min(max(C[i, z] / max(zn[i] * zn[z], tiny), -1.0), 1.0)
        C[i, i] = 1.0  # t = 0 with itself: pi - t = pi, sin t = 0 exactly
    for i in range(n):
        for z in range(m):
            cs = C[i, z]
            cz = 1.0 if z < n else -1.0  # c_z = 1 on W, -1 on V
            S[i, z] = cz * zn[z] * math.sqrt(max((1.0 - cs) * (1.0 + cs), 0.0))
            C[i, z] = cz * pi_minus_acos(cs)
    g2 = 0.0
    for i in range(n):
        if zn[i] <= 0.0:  # relu'(0) = 0: a zero neuron does not move
            for c in range(d):
                G[i, c] = 0.0
            continue
        s1 = 0.0  # sum_z c_z |z| sin t
        for z in range(m):
            s1 += S[i, z]
        r = s1 / zn[i]
        for c in range(d):  # (A Z)_i + w_i s1 / |w_i|, A = c_z (pi - t)
            G[i, c] = W[i, c] * r
        for z in range(m):
            a = C[i, z]
            for c in range(d):
                G[i, c] += a * Z[z, c]
        for c in range(d):
            G[i, c] /= _TWO_PI
            g2 += G[i, c] * G[i, c]
    return g2


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _run_row(Wr, V, vn, lr, grad_tol, max_steps, diverge, budget, st, G):  # pragma: no cover
    """GD on one row (n, d) in place; returns (status, steps, ||grad||); G the gradient."""
    n = Wr.shape[0]
    d = Wr.shape[1]
    k = V.shape[0]
    Z = np.empty((n + k, d))
    ZT = np.empty((d, n + k))
    zn = np.empty(n + k)
    for j in range(k):
        zn[n + j] = vn[j]
        for c in range(d):
            ZT[c, n + j] = V[j, c]
            Z[n + j, c] = V[j, c]
    C = np.empty((n, n + k))
    S = np.empty((n, n + k))
    taken = 0
    while True:
        gn = math.sqrt(_grad_row(Wr, Z, ZT, zn, C, S, G))
        if not gn <= diverge:  # NaN too: a non-finite iterate gives a NaN gradient
            return DIVERGED, st, math.inf
        if gn <= grad_tol:
            return CONVERGED, st, gn
        if st >= max_steps:
            return MAX_STEPS, st, gn
        if taken >= budget:
            return RUNNING, st, gn
        for i in range(n):
            for c in range(d):
                Wr[i, c] -= lr * G[i, c]
        st += 1
        taken += 1


@numba.njit(cache=True, nogil=True)
def _norms(V):  # pragma: no cover - compiled
    k, d = V.shape
    vn = np.empty(k)
    for j in range(k):
        s = 0.0
        for c in range(d):
            s += V[j, c] * V[j, c]
        vn[j] = math.sqrt(s)
    return vn


@numba.njit(cache=True, parallel=True, nogil=True)
def gd_rows(
    W, V, lr, grad_tol, max_steps, diverge, budget, steps, status, grad_norm, G_out
):  # pragma: no cover
    """Advance every row of W (R, n, d) in place by GD, at most ``budget`` steps each,
    rows in parallel (numba's threads).

    ``steps`` (R,) holds each row's steps so far and is advanced. On return ``status``
    (R,) is the driver's code (RUNNING for a row that used up ``budget`` in this call),
    ``grad_norm`` (R,) the final ||grad|| (inf if diverged) and ``G_out`` (R, n, d) the
    gradient at the returned iterate.
    """
    vn = _norms(V)
    for r in numba.prange(W.shape[0]):
        code, st, gn = _run_row(
            W[r], V, vn, lr, grad_tol, max_steps, diverge, budget, steps[r], G_out[r]
        )
        steps[r] = st
        status[r] = code
        grad_norm[r] = gn


@numba.njit(cache=True, nogil=True)
def gd_rows_serial(
    W, V, lr, grad_tol, max_steps, diverge, budget, steps, status, grad_norm, G_out
):  # pragma: no cover
    """``gd_rows`` in the calling thread alone: no thread pool (whose idle threads would
    compete with the other worker processes of ``landscope run --jobs``)."""
    vn = _norms(V)
    for r in range(W.shape[0]):
        code, st, gn = _run_row(
            W[r], V, vn, lr, grad_tol, max_steps, diverge, budget, steps[r], G_out[r]
        )
        steps[r] = st
        status[r] = code
        grad_norm[r] = gn


# ------------------------------------------------------------------ Hessian
# The closed-form Hessian of ``ReluTeacherStudent._hessian_rows`` (second layer fixed to
# ones), one row's (P, P) matrix written in place. The torch pass builds several
# (R, n, n, d, d) pair tensors and is bound by their memory traffic; here each d x d
# block is formed once, and block (l, i) is written as the transpose of block (i, l), so
# the result is exactly symmetric.


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _hessian_row(W, V, vn, H):  # pragma: no cover - compiled
    n, d = W.shape
    k = V.shape[0]
    tiny = np.finfo(np.float64).tiny
    nu = np.empty(n)
    ub = np.zeros((n, d))
    vb = np.zeros((k, d))
    for j in range(k):
        s = max(vn[j], tiny)
        for c in range(d):
            vb[j, c] = V[j, c] / s
    for i in range(n):
        s = 0.0
        for c in range(d):
            s += W[i, c] * W[i, c]
        nu[i] = math.sqrt(s)
        s = max(nu[i], tiny)
        for c in range(d):
            ub[i, c] = W[i, c] / s
    q = np.empty(d)
    p = np.empty(d)
    for a in range(H.shape[0]):
        for b in range(H.shape[1]):
            H[a, b] = 0.0
    for i in range(n):
        if nu[i] <= 0.0:  # relu'(0) = 0: a zero neuron's rows and columns stay zero
            continue
        o = i * d
        # d2F/dw_i^2, the sum over z != i: alpha (I - u u') + sum_z beta q q'
        alpha = 0.0
        for z in range(n + k):
            if z == i:
                continue
            if z < n:
                zr, zn, zbar, cz = W[z], nu[z], ub[z], 1.0
            else:
                zr, zn, zbar, cz = V[z - n], vn[z - n], vb[z - n], -1.0
            dot = 0.0
            for c in range(d):
                dot += W[i, c] * zr[c]
            cs = min(max(dot / max(nu[i] * zn, tiny), -1.0), 1.0)
            sq = 0.0
            for c in range(d):
                q[c] = zbar[c] - cs * ub[i, c]
                sq += q[c] * q[c]
            sq = math.sqrt(sq)
            wz = cz * zn / (_TWO_PI * nu[i])
            alpha += wz * sq
            if sq > 0.0:
                beta = wz / sq
                for a in range(d):
                    qa = beta * q[a]
                    for b in range(d):
                        H[o + a, o + b] += qa * q[b]
        for a in range(d):
            H[o + a, o + a] += alpha
            for b in range(d):
                H[o + a, o + b] -= alpha * ub[i, a] * ub[i, b]
        # the student pairs (i, l), l >= i: ((pi - t) I + s c v v' + s (p v' + v p')
        # - (c / s) p p') / 2 pi with u = ubar_i, v = ubar_l, p = u - c v
        for l in range(i, n):
            if nu[l] <= 0.0:
                continue
            dot = 0.0
            for c in range(d):
                dot += W[i, c] * W[l, c]
            cs = min(max(dot / max(nu[i] * nu[l], tiny), -1.0), 1.0)
            sp = 0.0
            for c in range(d):
                p[c] = ub[i, c] - cs * ub[l, c]
                sp += p[c] * p[c]
            sp = math.sqrt(sp)
            t = math.atan2(sp, cs)
            r = cs / sp if sp > 0.0 else 0.0
            ol = l * d
            for a in range(d):
                va = ub[l, a]
                pa = p[a]
                for b in range(d):
                    vb_ = ub[l, b]
                    m = sp * cs * va * vb_ + sp * (pa * vb_ + va * p[b]) - r * pa * p[b]
                    if a == b:
                        m += math.pi - t
                    m /= _TWO_PI
                    if l == i:
                        H[o + a, o + b] += m
                    else:
                        H[o + a, ol + b] = m
                        H[ol + b, o + a] = m
    for i in range(n):  # the diagonal blocks are sums of symmetric terms: exactly so
        o = i * d
        for a in range(d):
            for b in range(a + 1, d):
                m = 0.5 * (H[o + a, o + b] + H[o + b, o + a])
                H[o + a, o + b] = m
                H[o + b, o + a] = m


@numba.njit(cache=True, parallel=True, nogil=True)
def hessian_rows(W, V, H):  # pragma: no cover - compiled
    """Fill H (R, P, P) with the Hessian of every row of W (R, n, d), rows in parallel."""
    vn = _norms(V)
    for r in numba.prange(W.shape[0]):
        _hessian_row(W[r], V, vn, H[r])


@numba.njit(cache=True, nogil=True)
def hessian_rows_serial(W, V, H):  # pragma: no cover - compiled
    """``hessian_rows`` in the calling thread alone (see ``gd_rows_serial``)."""
    vn = _norms(V)
    for r in range(W.shape[0]):
        _hessian_row(W[r], V, vn, H[r])
