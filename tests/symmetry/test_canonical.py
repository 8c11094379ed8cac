"""Canonical forms: Wc = P W Q', the same Wc for every point of an orbit (also with
noise below tol), different Wc for different orbits (against brute force), and grouping
of points into types."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from landscope.symmetry import canonical_form, group_types, same_orbit
from reference.brute_symmetry import brute_same_orbit

NOISE = 1e-9  # below tol = 1e-6: the canonical forms may differ by this much, no more
TRIALS = 20


def delta_sk1(k: int) -> np.ndarray:
    W = 1.0 * np.eye(k) - 0.05
    W[-1, :] = 0.16
    W[:, -1] = 0.23
    W[-1, -1] = -0.66
    return W


def act(W: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    out = np.empty_like(W)
    out[np.ix_(p, q)] = W
    return out


def _point(name: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    if name == "eye":
        return np.eye(n, d)
    if name == "dsk1":
        return delta_sk1(n)[:, :d]
    if name == "ties":  # entries from {0, 1, 2}: refinement leaves big cells to search
        return rng.integers(0, 3, (n, d)).astype(float)
    return rng.standard_normal((n, d))


def _is_perm_matrix(M: np.ndarray) -> bool:
    return set(np.unique(M)) <= {0.0, 1.0} and (M.sum(0) == 1).all() and (M.sum(1) == 1).all()


@pytest.mark.parametrize("group", ["SnxSd", "Sn"])
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 5)])
def test_form_is_p_w_qt(group: str, shape: tuple[int, int]) -> None:
    W = np.random.default_rng(0).integers(0, 2, shape).astype(float)
    Wc, P, Q = canonical_form(W, group)
    assert Wc.shape == shape and P.shape == (shape[0],) * 2 and Q.shape == (shape[1],) * 2
    assert _is_perm_matrix(P) and _is_perm_matrix(Q)
    np.testing.assert_array_equal(P @ W @ Q.T, Wc)
    if group == "Sn":
        np.testing.assert_array_equal(Q, np.eye(shape[1]))


@pytest.mark.parametrize("group", ["SnxSd", "Sn"])
@pytest.mark.parametrize("shape", [(3, 3), (6, 6), (10, 10), (8, 5)])
@pytest.mark.parametrize("name", ["eye", "dsk1", "ties", "generic"])
def test_same_form_on_the_whole_orbit(group: str, shape: tuple[int, int], name: str) -> None:
    rng = np.random.default_rng(zlib.crc32(repr((group, shape, name)).encode()))
    n, d = shape
    W = _point(name, n, d, rng)
    ref = canonical_form(W, group)[0]
    for t in range(TRIALS):
        p = rng.permutation(n)
        q = rng.permutation(d) if group == "SnxSd" else np.arange(d)
        Wg = act(W, p, q) + rng.uniform(-NOISE, NOISE, W.shape)
        Wc, P, Q = canonical_form(Wg, group)
        np.testing.assert_allclose(Wc, ref, rtol=0, atol=2 * NOISE)
        np.testing.assert_array_equal(P @ Wg @ Q.T, Wc)
        assert t > 0 or same_orbit(W, Wg, group)


def test_distinguishes_orbits() -> None:
    k = 5
    assert not same_orbit(np.eye(k), delta_sk1(k))
    W = delta_sk1(k)
    W2 = W.copy()
    W2[0, 0] += 1e-3  # far above tol: a different point, and not a relabeling of W
    assert not same_orbit(W, W2)
    assert same_orbit(W, W2, tol=1e-2)
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((2, k, k))
    assert not same_orbit(A, B)
    # a column permutation is a symmetry of "SnxSd" only
    Aq = A[:, rng.permutation(k)]
    assert same_orbit(A, Aq) and not same_orbit(A, Aq, "Sn")
    assert not same_orbit(np.eye(3), np.eye(3, 4))  # shapes differ


def test_same_orbit_against_brute_force() -> None:
    rng = np.random.default_rng(5)
    seen = {True: 0, False: 0}
    for t in range(60):
        group = "SnxSd" if t % 2 else "Sn"
        n, d = rng.integers(1, 5, 2)
        W1 = rng.integers(0, 2, (n, d)).astype(float)
        if t % 3 == 0:  # a relabeling of W1, so that both answers are exercised
            p = rng.permutation(n)
            q = rng.permutation(d) if group == "SnxSd" else np.arange(d)
            W2 = act(W1, p, q)
        else:
            W2 = rng.integers(0, 2, (n, d)).astype(float)
        want = brute_same_orbit(W1, W2, group, 1e-6)
        assert same_orbit(W1, W2, group) == want, (W1, W2, group)
        seen[want] += 1
    assert min(seen.values()) >= 10


def test_group_types() -> None:
    rng = np.random.default_rng(2)
    k = 6
    A = rng.standard_normal((k, k))

    def g(W: np.ndarray) -> np.ndarray:
        return act(W, rng.permutation(k), rng.permutation(k)) + rng.uniform(-NOISE, NOISE)

    Ws = [np.eye(k), delta_sk1(k), g(np.eye(k)), A, g(delta_sk1(k)), g(A), g(g(A))]
    assert group_types(Ws) == [0, 1, 0, 2, 1, 2, 2]
    assert group_types(np.stack(Ws)) == [0, 1, 0, 2, 1, 2, 2]
    assert group_types(torch.as_tensor(np.stack(Ws))) == [0, 1, 0, 2, 1, 2, 2]
    assert group_types([A, A[:, ::-1]], "Sn") == [0, 1]
    assert group_types([]) == []


def test_torch_in_torch_out() -> None:
    W = torch.as_tensor(delta_sk1(4))
    Wc, P, Q = canonical_form(W)
    assert all(isinstance(x, torch.Tensor) and x.dtype == torch.float64 for x in (Wc, P, Q))
    torch.testing.assert_close(P @ W @ Q.T, Wc, rtol=0, atol=0)
    np.testing.assert_array_equal(Wc.numpy(), canonical_form(W.numpy())[0])


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"Ws\[1\]"):
        group_types([np.eye(2), np.ones(3)])
    with pytest.raises(ValueError, match="unknown group"):
        canonical_form(np.eye(2), "S_n")
