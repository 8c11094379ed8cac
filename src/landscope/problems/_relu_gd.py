"""Plain gradient descent on the closed-form ReLU teacher-student loss, compiled (numba).

The batched torch step costs ~40 small tensor operations whatever the batch size, so
once a cell's working batch is down to a few slow rows (a census at k = 20 spends most
of its iterations on fewer than 64 of 1,000 rows) each step is dispatch latency, not
arithmetic. This kernel runs every row's GD loop to its end in compiled code, rows in
parallel, with the same gradient (``ReluTeacherStudent._lean``: second layer fixed to
ones) and the same stopping rule as ``landscope.optim.run`` with ``GD(lr)``: at each
iterate, diverged if ||grad|| is not <= ``diverge``, converged if ||grad|| <=
``grad_tol``, out of budget if the row has taken ``max_steps`` steps; otherwise a step.

Compiled on first use and cached on disk by numba (``cache=True``: beside this file, or
in the user's cache folder where the package is read-only).
"""

from __future__ import annotations

import math

import numba
import numpy as np

RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
_TWO_PI = 2.0 * math.pi
# Reordered sums may vectorize; never "no NaNs / no infs": a NaN gradient is how a
# diverged row is seen. IEEE division (error_model="numpy"): x / 0 is inf, not an error.
_FAST = {"reassoc", "contract", "nsz"}


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy", inline="always")
def _angle(u, v, nu, nv):  # pragma: no cover - compiled
    """(sin t, pi - t) for the angle t between the vectors u, v of norms nu, nv (as the
    torch pass: the cosine's denominator floored at the smallest float, then clamped)."""
    dot = 0.0
    for c in range(u.shape[0]):
        dot += u[c] * v[c]
    cs = min(max(dot / max(nu * nv, np.finfo(np.float64).tiny), -1.0), 1.0)
    return math.sqrt(max((1.0 - cs) * (1.0 + cs), 0.0)), math.pi - math.acos(cs)


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _grad_row(W, V, vn, nu, a_ww, s_ww, G):  # pragma: no cover - compiled
    """G = gradient of one row (n, d) at W, with a = b = 1; returns ||G||^2.

    ``nu`` (n,), ``a_ww`` and ``s_ww`` (n, n) are scratch: the student-student angle
    terms pi - t and |w_j| sin t, computed once per pair (the kernel is symmetric).
    """
    n, d = W.shape
    k = V.shape[0]
    for i in range(n):
        s = 0.0
        for c in range(d):
            s += W[i, c] * W[i, c]
        nu[i] = math.sqrt(s)
    for i in range(n):
        a_ww[i, i] = math.pi  # t = 0 with itself (cos clamps to 1: acos 0, sin 0)
        s_ww[i, i] = 0.0
        for j in range(i + 1, n):
            sn, a = _angle(W[i], W[j], nu[i], nu[j])
            a_ww[i, j] = a
            a_ww[j, i] = a
            s_ww[i, j] = nu[j] * sn
            s_ww[j, i] = nu[i] * sn
    g2 = 0.0
    for i in range(n):
        for c in range(d):
            G[i, c] = 0.0
        if nu[i] <= 0.0:  # relu'(0) = 0: a zero neuron does not move
            continue
        s1 = 0.0  # sum_z c_z |z| sin t
        for j in range(n):
            a = a_ww[i, j]
            s1 += s_ww[i, j]
            for c in range(d):
                G[i, c] += a * W[j, c]
        for j in range(k):
            sn, a = _angle(W[i], V[j], nu[i], vn[j])
            s1 -= vn[j] * sn
            for c in range(d):
                G[i, c] -= a * V[j, c]
        r = s1 / nu[i]
        for c in range(d):
            G[i, c] = (G[i, c] + W[i, c] * r) / _TWO_PI
            g2 += G[i, c] * G[i, c]
    return g2


@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _run_row(Wr, V, vn, lr, grad_tol, max_steps, diverge, budget, st, G):  # pragma: no cover
    """GD on one row (n, d) in place; returns (status, steps, ||grad||); G the gradient."""
    n = Wr.shape[0]
    d = Wr.shape[1]
    nu = np.empty(n)
    a_ww = np.empty((n, n))
    s_ww = np.empty((n, n))
    taken = 0
    while True:
        gn = math.sqrt(_grad_row(Wr, V, vn, nu, a_ww, s_ww, G))
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
