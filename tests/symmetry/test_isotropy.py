"""Isotropy groups: points with known groups by construction, orders against brute-force
enumeration of S_n x S_d, invariance under the group and under noise below tol, names,
generators, speed on Delta S_19, and bad input."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from landscope.symmetry import Isotropy, isotropy
from reference.brute_symmetry import brute_isotropy

TOL = 1e-6
NOISE = 1e-9  # well below TOL * max(1, max|W|): the clustering must not see it
TRIALS = 20


def delta_sk1(k: int) -> np.ndarray:
    """Fixed by Delta S_{k-1}: a I + b 11' on the first k-1 block, distinct last row/col."""
    W = 1.0 * np.eye(k) - 0.05
    W[-1, :] = 0.16
    W[:, -1] = 0.23
    W[-1, -1] = -0.66
    return W


def delta_s2_sk2(k: int) -> np.ndarray:
    """Fixed by Delta(S_2 x S_{k-2}): two diagonal blocks, one value per block pair."""
    W = np.full((k, k), 0.1)
    W[:2, :2] = 0.3
    W[2:, 2:] = -0.2
    W[:2, 2:] = 0.05
    idx = np.arange(k)
    W[idx[:2], idx[:2]] = 0.9
    W[idx[2:], idx[2:]] = 1.1
    return W


def act(W: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """g.W = P W Q': (g.W)[p[i], q[j]] = W[i, j]."""
    out = np.empty_like(W)
    out[np.ix_(p, q)] = W
    return out


def random_element(n: int, d: int, group: str, rng: np.random.Generator):
    p = rng.permutation(n)
    q = rng.permutation(d) if group == "SnxSd" else np.arange(d)
    return p, q


def check_generators(W: np.ndarray, iso: Isotropy, tol: float = TOL) -> None:
    for p, q in iso.generators:
        assert sorted(p) == list(range(W.shape[0])) and sorted(q) == list(range(W.shape[1]))
        np.testing.assert_allclose(act(W, np.array(p), np.array(q)), W, rtol=0, atol=tol)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_identity_is_delta_sk(k: int) -> None:
    iso = isotropy(np.eye(k))
    assert iso.order == math.factorial(k)
    assert iso.name == ("trivial" if k == 1 else f"Delta S_{k}")
    assert iso.row_orbits == [list(range(k))] and iso.col_orbits == [list(range(k))]
    check_generators(np.eye(k), iso)


@pytest.mark.parametrize("k", [3, 4, 6, 10])
def test_delta_sk_minus_1(k: int) -> None:
    W = delta_sk1(k)
    iso = isotropy(W)
    assert (iso.name, iso.order) == (f"Delta S_{k - 1}", math.factorial(k - 1))
    assert iso.row_orbits == [list(range(k - 1)), [k - 1]]
    assert iso.col_orbits == [list(range(k - 1)), [k - 1]]
    check_generators(W, iso)


@pytest.mark.parametrize("k", [4, 5, 7])
def test_delta_s2_x_sk_minus_2(k: int) -> None:
    iso = isotropy(delta_s2_sk2(k))
    want = "Delta(S_2 x S_2)" if k == 4 else f"Delta(S_2 x S_{k - 2})"
    assert (iso.name, iso.order) == (want, 2 * math.factorial(k - 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", [(5, 5), (7, 4), (3, 6)])
def test_generic_point_is_trivial(seed: int, shape: tuple[int, int]) -> None:
    W = np.random.default_rng(seed).standard_normal(shape)
    for group in ("SnxSd", "Sn"):
        iso = isotropy(W, group)
        assert (iso.name, iso.order, iso.generators) == ("trivial", 1, [])
        assert iso.row_orbits == [[i] for i in range(shape[0])]


def test_rows_only_duplicated_rows() -> None:
    rng = np.random.default_rng(3)
    W = rng.standard_normal((6, 4))
    W[1] = W[0]
    W[3] = W[4] = W[2]  # rows {0, 1} and {2, 3, 4} are neurons computing the same thing
    for group in ("Sn", "SnxSd"):  # a generic W has no column symmetry to add
        iso = isotropy(W, group)
        assert (iso.name, iso.order) == ("S_2 x S_3", 12)
        assert iso.row_orbits == [[0, 1], [2, 3, 4], [5]]
        assert iso.col_orbits == [[0], [1], [2], [3]]
        check_generators(W, iso)


def test_rows_only_ignores_column_symmetry() -> None:
    iso = isotropy(np.eye(4), "Sn")
    assert (iso.name, iso.order) == ("trivial", 1)
    iso = isotropy(np.ones((3, 2)), "Sn")
    assert (iso.name, iso.order) == ("S_3", 6)


@pytest.mark.parametrize("k", [3, 4, 6])
def test_rectangular_n_greater_than_d(k: int) -> None:
    # a zero neuron padding the teacher: Delta S_k, the zero row alone
    W = np.vstack([np.eye(k), np.zeros((1, k))])
    iso = isotropy(W)
    assert (iso.name, iso.order) == (f"Delta S_{k}", math.factorial(k))
    assert iso.row_orbits == [list(range(k)), [k]]
    # a neuron split in two halves: the halves swap alone, Delta S_{k-1} on the rest
    W = np.vstack([np.eye(k), np.eye(k)[:1]])
    W[0] /= 2
    W[k] /= 2
    iso = isotropy(W)
    want = "Delta S_2 x S_2" if k == 3 else f"Delta S_{k - 1} x S_2"
    assert (iso.name, iso.order) == (want, 2 * math.factorial(k - 1))
    assert iso.row_orbits == [[0, k], list(range(1, k))]
    assert iso.col_orbits == [[0], list(range(1, k))]
    check_generators(W, iso)


def test_not_a_product_of_symmetric_groups() -> None:
    # circulant with distinct entries: the cyclic group Z_5 acting diagonally
    W = np.array([np.roll(np.arange(5.0), s) for s in range(5)])
    iso = isotropy(W)
    assert (iso.name, iso.order) == ("order 5 group", 5)
    # the Fano plane's point-line incidence: its collineation group PGL(3, 2), order 168,
    # which refinement cannot split (every point on 3 lines, every line through 3 points)
    fano = np.zeros((7, 7))
    for line in range(7):
        fano[[line, (line + 1) % 7, (line + 3) % 7], line] = 1.0
    iso = isotropy(fano)
    assert (iso.name, iso.order) == ("order 168 group", 168)
    check_generators(fano, iso)
    # a constant block: rows and columns permute independently
    iso = isotropy(np.ones((3, 4)))
    assert (iso.name, iso.order) == ("S_3 x S_4", 144)


def _brute_cases() -> list:
    rng = np.random.default_rng(7)
    cases = []
    for k in (2, 3, 4, 5):
        cases += [pytest.param(np.eye(k), "SnxSd", id=f"eye{k}")]
        cases += [pytest.param(delta_sk1(k), "SnxSd", id=f"delta_sk1_{k}")]
    for k in (4, 5):
        cases += [pytest.param(delta_s2_sk2(k), "SnxSd", id=f"delta_s2_sk2_{k}")]
    for i in range(12):  # small integer entries: many ties, many kinds of group
        n, d = rng.integers(1, 6, 2)
        W = rng.integers(0, 1 + i % 3, (n, d)).astype(float)
        cases += [pytest.param(W, g, id=f"int{i}-{g}") for g in ("SnxSd", "Sn")]
    return cases


@pytest.mark.parametrize(("W", "group"), _brute_cases())
def test_order_and_orbits_against_brute_force(W: np.ndarray, group: str) -> None:
    bp, bq = brute_isotropy(W, group, TOL)
    iso = isotropy(W, group)
    assert iso.order == len(bp)
    rows = sorted({tuple(sorted(set(bp[:, i].tolist()))) for i in range(W.shape[0])})
    cols = sorted({tuple(sorted(set(bq[:, j].tolist()))) for j in range(W.shape[1])})
    assert [tuple(o) for o in iso.row_orbits] == rows
    assert [tuple(o) for o in iso.col_orbits] == cols
    check_generators(W, iso)


@pytest.mark.parametrize("k", [3, 6, 10])
@pytest.mark.parametrize("point", ["eye", "dsk1", "ds2sk2", "generic"])
def test_invariant_under_group_and_noise(k: int, point: str) -> None:
    rng = np.random.default_rng(100 + k)
    W = {
        "eye": np.eye(k),
        "dsk1": delta_sk1(k),
        "ds2sk2": delta_s2_sk2(k),
        "generic": rng.standard_normal((k, k)),
    }[point]
    ref = isotropy(W)
    for _ in range(TRIALS):
        p, q = random_element(k, k, "SnxSd", rng)
        Wg = act(W, p, q) + rng.uniform(-NOISE, NOISE, W.shape)
        iso = isotropy(Wg)
        assert (iso.name, iso.order) == (ref.name, ref.order)
        # orbits move with g
        assert sorted(sorted(p[o].tolist()) for o in ref.row_orbits) == iso.row_orbits
        assert sorted(sorted(q[o].tolist()) for o in ref.col_orbits) == iso.col_orbits


def test_noise_above_tol_breaks_the_symmetry() -> None:
    W = np.eye(4)
    W[0, 0] += 1e-3
    assert isotropy(W).name == "Delta S_3"
    assert isotropy(W, tol=1e-2).name == "Delta S_4"


def test_torch_input_matches_numpy() -> None:
    W = delta_sk1(5)
    assert isotropy(torch.as_tensor(W)) == isotropy(W)
    assert isotropy(torch.as_tensor(W, dtype=torch.float32), tol=1e-5).order == 24


def test_delta_s19_is_fast_and_exact() -> None:
    W = delta_sk1(20)
    t0 = time.perf_counter()
    iso = isotropy(W)
    elapsed = time.perf_counter() - t0
    assert iso.order == math.factorial(19) and isinstance(iso.order, int)
    assert iso.name == "Delta S_19"
    # ~0.15 s measured on a 2-core host; a factor of 10 for slower, busier hosts
    assert elapsed < 1.5, f"isotropy of a Delta S_19 point took {elapsed:.2f} s"


@pytest.mark.parametrize(
    ("W", "kw", "match"),
    [
        (np.zeros(3), {}, "matrix"),
        (np.zeros((0, 3)), {}, "matrix"),
        (np.array([[1.0, np.nan]]), {}, "NaN"),
        (np.eye(2), {"group": "Sd"}, "unknown group"),
        (np.eye(2), {"tol": -1.0}, "tol"),
        (np.eye(2), {"tol": float("nan")}, "tol"),
    ],
)
def test_bad_input(W: np.ndarray, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        isotropy(W, **kw)


def test_col_blocks_confine_the_column_permutations() -> None:
    """Q may only permute columns inside a block (inputs with Q Sigma Q' = Sigma)."""
    W = np.eye(6)
    iso = isotropy(W, "SnxSd", col_blocks=[0, 0, 0, 1, 1, 1])
    assert (iso.name, iso.order) == ("Delta(S_3 x S_3)", 36)
    assert iso.col_orbits == [[0, 1, 2], [3, 4, 5]]
    # labels are names, not positions: any two distinct values split the same way
    assert isotropy(W, "SnxSd", col_blocks=["b", "b", "b", "a", "a", "a"]).order == 36
    assert isotropy(W, "SnxSd", col_blocks=[0] * 6).order == 720
    for p, q in isotropy(W, "SnxSd", col_blocks=[0, 0, 0, 1, 1, 1]).generators:
        assert all((j < 3) == (q[j] < 3) for j in range(6))
        assert np.array_equal(W[np.ix_(p, q)], W)


@pytest.mark.parametrize(
    ("group", "blocks"), [("SnxSd", [0, 0, 1]), ("Sn", [0] * 6), ("SnxSd", [0] * 7)]
)
def test_col_blocks_errors(group, blocks) -> None:
    with pytest.raises(ValueError, match="col_blocks needs group 'SnxSd' and one label"):
        isotropy(np.eye(6), group, col_blocks=blocks)
