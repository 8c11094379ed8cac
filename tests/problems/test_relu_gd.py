"""``landscope.problems._relu_gd``: the compiled kernels' own pieces.

Their results are checked against the torch passes and autograd in test_relu_teacher.py
and test_driver.py; here: the inlined arccosine against libm, and that the kernels'
bits do not depend on which kernel (parallel or serial) ran them or on the alignment of
their buffers (a resumed study must equal an uninterrupted one bit for bit).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from landscope.problems import _relu_gd as K


def _pi_minus_acos(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    K_loop(x, out)
    return out


@K.numba.njit(cache=False)
def K_loop(x, out):  # pragma: no cover - compiled
    for i in range(x.shape[0]):
        out[i] = K.pi_minus_acos(x[i])


def test_pi_minus_acos_against_libm() -> None:
    # within one ulp of pi (4.4e-16) of pi - acos(x) computed by libm, which itself rounds
    # to within that; at the ends and the branch points exactly the right values
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(-1.0, 1.0, 200_000),
        1.0 - np.logspace(-16, 0, 2_000),  # near t = 0, where sin t ~ sqrt(1 - x)
        -1.0 + np.logspace(-16, 0, 2_000),
        np.nextafter(0.5, [0.0, 1.0]), np.nextafter(-0.5, [0.0, -1.0]),
    ])  # fmt: skip
    got = _pi_minus_acos(x)
    ref = np.array([math.pi - math.acos(v) for v in x])
    assert np.abs(got - ref).max() <= 4.5e-16
    ends = _pi_minus_acos(np.array([1.0, -1.0, 0.0, -0.0, 0.5, -0.5]))
    assert ends[0] == math.pi and ends[1] == 0.0
    want = [math.pi / 2] * 2 + [2 * math.pi / 3, math.pi / 3]
    np.testing.assert_allclose(ends[2:], want, rtol=0, atol=4.5e-16)


def _shifted(a: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``a`` whose data starts ``offset`` float64s into a fresh buffer."""
    buf = np.empty(a.size + 16)
    start = (-(buf.ctypes.data // 8) % 8) + offset  # from a 64-byte boundary, then offset
    out = buf[start : start + a.size].reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize(("n", "k"), [(8, 8), (9, 7), (20, 20)])
def test_kernels_give_the_same_bits_whatever_the_kernel_or_alignment(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    W0 = rng.standard_normal((5, n, k)) / math.sqrt(k)
    V = np.eye(k)
    hess = []
    for fn in (K.hessian_rows, K.hessian_rows_serial):
        for offset in (0, 1, 3):
            H = np.zeros((5, n * k, n * k))
            fn(_shifted(W0, offset), V, H)
            hess.append(H)
    gd = []
    for fn in (K.gd_rows, K.gd_rows_serial):
        for offset in (0, 1, 3):
            W = _shifted(W0, offset)
            steps, status = np.zeros(5, np.int64), np.zeros(5, np.int64)
            gn, G = np.empty(5), np.empty_like(W0)
            fn(W, V, 2.0 / k, 1e-5, 10**6, 1e6, 300, steps, status, gn, G)
            gd.append((W.copy(), G, gn))
    for H in hess[1:]:
        assert np.array_equal(H, hess[0])
    for W, G, gn in gd[1:]:
        assert np.array_equal(W, gd[0][0]) and np.array_equal(G, gd[0][1])
        assert np.array_equal(gn, gd[0][2])
