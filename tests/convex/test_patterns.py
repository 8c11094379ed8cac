"""Activation patterns of a ReLU layer, the regions of the arrangement {x_i . u = 0}
(Pilanci & Ergen 2020): counts against Cover's formula for Gaussian data, exactness
against Gaussian brute force and against an independent LP enumeration of all 0/1 vectors
(generic, degenerate and rank-deficient data), interior points, the sampled variant and its
gates, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from landscope.convex.patterns import (
    interior_points,
    pattern_count,
    relu_patterns,
    sample_gates,
)

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _gauss(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=_gen(seed), dtype=DT)


def _rows(P: torch.Tensor) -> list[tuple[bool, ...]]:
    return [tuple(r) for r in P.tolist()]


def _brute_force(X: torch.Tensor, N: int = 200_000, seed: int = 123) -> set[tuple[bool, ...]]:
    """Patterns 1[X u >= 0] of N Gaussian directions u."""
    U = torch.randn(N, X.shape[1], generator=_gen(seed), dtype=DT)
    return set(_rows(torch.unique((X.to(DT) @ U.T >= 0).T, dim=0)))


def _lp_enumeration(X: torch.Tensor) -> list[tuple[bool, ...]]:
    """Every 0/1 vector D with an LP certificate max{t : (2D - 1)_i x_i . u >= t, |u| <= 1}
    > 1e-7 (zero rows must have D_i = 1), sorted; 2^n LPs, for n <= 8."""
    Xn = X.to(DT).numpy()
    n, d = Xn.shape
    zero = ~np.any(Xn != 0, axis=1)
    A = Xn[~zero]
    out = []
    for bits in itertools.product([False, True], repeat=n):
        b = np.array(bits)
        if not b[zero].all():
            continue
        s = np.where(b[~zero], 1.0, -1.0)
        A_ub = np.hstack([-s[:, None] * A, np.ones((A.shape[0], 1))])
        res = linprog(
            np.r_[np.zeros(d), -1.0],
            A_ub=A_ub,
            b_ub=np.zeros(A.shape[0]),
            bounds=[(-1.0, 1.0)] * d + [(None, 1.0)],
            method="highs",
        )
        if res.status == 0 and -res.fun > 1e-7:
            out.append(bits)
    return out


def _assert_sorted_distinct(P: torch.Tensor) -> None:
    rows = _rows(P)
    assert rows == sorted(set(rows))


def _assert_interior(X: torch.Tensor, P: torch.Tensor, U: torch.Tensor) -> None:
    """(2 D - 1) X u > 0 strictly on every nonzero row of X."""
    nz = X.abs().sum(dim=1) > 0
    margins = ((2.0 * P.to(DT) - 1.0) * (X.to(DT) @ U.to(DT).T).T)[:, nz]
    assert bool((margins > 0).all())


# ----------------------------------------------------------------------------- counts
def test_pattern_count_values() -> None:
    assert pattern_count(1, 1) == 2
    assert pattern_count(7, 1) == 2
    assert pattern_count(3, 2) == 6
    assert pattern_count(10, 2) == 20
    assert pattern_count(4, 3) == 14
    assert pattern_count(50, 3) == 2452
    assert pattern_count(100, 4) == 323600
    for n, d in [(1, 3), (3, 3), (4, 6), (5, 5)]:  # n <= d: every 0/1 vector
        assert pattern_count(n, d) == 2**n


@pytest.mark.parametrize(
    "n,d",
    [(1, 1), (6, 1), (1, 2), (2, 2), (9, 2), (2, 3), (3, 3), (14, 3), (3, 4), (4, 4), (11, 4)]
    + [(12, 5), (4, 6), (70, 3)],
)
def test_counts_match_formula(n: int, d: int) -> None:
    X = _gauss(n, d, seed=10 * n + d)
    P = relu_patterns(X)
    assert P.dtype == torch.bool and P.device == X.device
    assert P.shape == (pattern_count(n, d), n)
    _assert_sorted_distinct(P)


@pytest.mark.parametrize("n,d", [(4, 2), (5, 3), (6, 3), (5, 4)])
def test_exact_equals_brute_force(n: int, d: int) -> None:
    X = _gauss(n, d, seed=n + 7 * d)
    exact = set(_rows(relu_patterns(X)))
    sampled = _brute_force(X)
    assert sampled <= exact
    assert sampled == exact  # tiny n, d: 200k directions find every region


def test_exact_equals_lp_enumeration_generic() -> None:
    X = _gauss(7, 3, seed=3)
    assert _rows(relu_patterns(X)) == _lp_enumeration(X)


# ----------------------------------------------------------------------------- degenerate
def _degenerate_cases() -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    b = rng.standard_normal((4, 3))
    grid = [(i, j) for i in range(3) for j in range(3)][1:]
    t = np.array([0.0, 1.0, 1.0, -2.0, 3.0, 0.5])
    cases = {
        # duplicated, antiparallel and rescaled rows: one hyperplane each
        "duplicates": np.stack([b[0], b[1], b[0], b[2], -b[1], b[3], 2.0 * b[2]]),
        # 1-D inputs with a bias column, some x values repeated
        "bias_repeated_x": np.c_[[-1.0, -1.0, 0.0, 0.5, 2.0, 2.0, 3.0], np.ones(7)],
        # four of seven 2-D points on a line, with a bias column (rank 3)
        "collinear_points": np.c_[
            [[0, 0], [1, 1], [2, 2], [3, 3], [0, 2], [2, 0], [1, 3]], np.ones(7)
        ],
        # a 3x3 grid less a corner, with a bias column: many collinear triples
        "grid": np.c_[grid, np.ones(8)],
        # d = 3 points on a line (rank 2), one repeated
        "points_on_a_line_d3": np.c_[t, 2.0 * t + 1.0, np.ones(6)],
        # 3-D points, four of them coplanar, with a bias column (d = 4)
        "coplanar_d4": np.c_[
            [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 2, 3], [2, -1, 1]],
            np.ones(7),
        ],
        # five rows through the line e4, three of which meet in a plane: the recursion
        # at the line meets a degenerate line of its own
        "nested": np.r_[
            [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0]],
            np.c_[rng.standard_normal((3, 3)), np.ones(3)],
        ],
        # a zero row: x . u = 0 >= 0, always 1
        "zero_row": np.r_[rng.standard_normal((5, 3)), np.zeros((1, 3))],
    }
    return {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in cases.items()}


DEGENERATE = _degenerate_cases()


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_data_exact(name: str) -> None:
    X = DEGENERATE[name]
    P = relu_patterns(X)
    _assert_sorted_distinct(P)
    assert _rows(P) == _lp_enumeration(X)
    assert _brute_force(X, N=50_000) <= set(_rows(P))
    _assert_interior(X, P, interior_points(X, P))


def test_degenerate_counts() -> None:
    # 1-D points with a bias: 2 q regions for q distinct values (a 1-D arrangement of q
    # hyperplanes in general position in R^2)
    assert relu_patterns(DEGENERATE["bias_repeated_x"]).shape[0] == pattern_count(5, 2)
    # duplicates: 4 distinct hyperplanes in general position in R^3
    assert relu_patterns(DEGENERATE["duplicates"]).shape[0] == pattern_count(4, 3)
    # a zero row changes nothing but adds a constant 1
    X = DEGENERATE["zero_row"]
    P = relu_patterns(X)
    assert bool(P[:, -1].all())
    assert torch.equal(P[:, :-1], relu_patterns(X[:-1]))
    all_zero = relu_patterns(torch.zeros(3, 2, dtype=DT))
    assert torch.equal(all_zero, torch.ones(1, 3, dtype=torch.bool))


def test_larger_degenerate_grid() -> None:
    # a 5x5 grid with a bias column: exact contains every brute-force pattern, and each of
    # its patterns has a strictly interior point
    g = torch.tensor([(i, j, 1.0) for i in range(-2, 3) for j in range(-2, 3)], dtype=DT)
    P = relu_patterns(g)
    assert _brute_force(g) <= set(_rows(P))
    _assert_interior(g, P, interior_points(g, P))


@pytest.mark.parametrize("n,d,k", [(9, 3, 2), (10, 5, 3), (3, 4, 2)])
def test_rank_deficient(n: int, d: int, k: int) -> None:
    Z = _gauss(n, k, seed=n + d)
    X = Z @ _gauss(k, d, seed=99)  # rows in a k-dimensional subspace of R^d
    P = relu_patterns(X)
    assert P.shape == (pattern_count(n, k), n)
    assert torch.equal(P, relu_patterns(Z))
    _assert_interior(X, P, interior_points(X, P))


def test_float32_matches_float64() -> None:
    X = _gauss(15, 3, seed=5)
    assert torch.equal(relu_patterns(X.float()), relu_patterns(X.float().double()))


def test_max_patterns_refused() -> None:
    X = _gauss(50, 3, seed=0)
    with pytest.raises(ValueError, match=r"up to 2452 .*method='sample'"):
        relu_patterns(X, max_patterns=1000)
    assert relu_patterns(X, max_patterns=2452).shape[0] == 2452


# ----------------------------------------------------------------------------- interior
@pytest.mark.parametrize("n,d", [(30, 3), (12, 5), (3, 4), (5, 1)])
def test_interior_points_realize_exact_patterns(n: int, d: int) -> None:
    X = _gauss(n, d, seed=n * d)
    P = relu_patterns(X)
    U = interior_points(X, P)
    assert U.shape == (P.shape[0], d) and U.dtype == X.dtype
    _assert_interior(X, P, U)
    assert torch.allclose(U.norm(dim=1), torch.ones(P.shape[0], dtype=DT))
    # 0/1 integer and numpy patterns are accepted too
    assert torch.equal(interior_points(X, P.to(torch.int64)), U)
    assert torch.equal(interior_points(X, P.numpy()), U)


def test_interior_points_reject_unrealizable() -> None:
    X = _gauss(6, 3, seed=1)
    X[3] = X[0]
    P = relu_patterns(X)
    bad = P[:2].clone()
    bad[1, 3] = ~bad[1, 0]  # a duplicated row with different bits
    with pytest.raises(ValueError, match=r"patterns \[1\] \(of 2\) have no interior point"):
        interior_points(X, bad)
    X[5] = 0.0
    P = relu_patterns(X)
    bad = P[:1].clone()
    bad[0, 5] = False
    with pytest.raises(ValueError, match="zero row"):
        interior_points(X, bad)


# ----------------------------------------------------------------------------- sampling
def test_sample_gates_subset_and_reproduce() -> None:
    X = _gauss(20, 3, seed=2)
    exact = set(_rows(relu_patterns(X)))
    G, P = sample_gates(X, 3000, generator=_gen(0))
    assert G.shape == (P.shape[0], 3) and G.dtype == DT and P.dtype == torch.bool
    _assert_sorted_distinct(P)
    assert set(_rows(P)) <= exact
    assert torch.equal((X @ G.T >= 0).T, P)  # each gate gives its pattern
    _assert_interior(X, P, G)  # strictly (Gaussian gates miss the hyperplanes)
    # relu_patterns(method="sample") returns the same patterns for the same stream
    S = relu_patterns(X, method="sample", samples=3000, generator=_gen(0))
    assert torch.equal(S, P)
    G2, P2 = sample_gates(X, 3000, generator=_gen(0))
    assert torch.equal(G, G2) and torch.equal(P, P2)


def test_sample_finds_all_on_a_tiny_case_and_defaults() -> None:
    X = _gauss(5, 3, seed=4)
    S = relu_patterns(X, method="sample", samples=20_000, generator=_gen(1))
    assert torch.equal(S, relu_patterns(X))
    D = relu_patterns(X, method="sample", generator=_gen(1))  # default samples
    assert set(_rows(D)) <= set(_rows(S))
    Xz = torch.cat([X, torch.zeros(1, 3, dtype=DT)])
    assert bool(relu_patterns(Xz, method="sample", samples=100, generator=_gen(2))[:, -1].all())


# ----------------------------------------------------------------------------- bad input
GOOD = torch.ones(4, 2, dtype=DT)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: relu_patterns(torch.ones(4, dtype=DT)), r"shape \(4,\)"),
        (lambda: relu_patterns(torch.ones(0, 3, dtype=DT)), r"shape \(0, 3\)"),
        (lambda: relu_patterns(torch.ones(3, 0, dtype=DT)), r"shape \(3, 0\)"),
        (lambda: relu_patterns(torch.tensor([[1.0, float("nan")]])), "NaN or infinite"),
        (lambda: relu_patterns(torch.tensor([[1.0, float("inf")]])), "NaN or infinite"),
        (lambda: relu_patterns(torch.ones(3, 2, dtype=torch.int64)), "dtype torch.int64"),
        (lambda: relu_patterns([[1.0, 2.0]]), "is a list"),
        (lambda: relu_patterns(GOOD, method="lp"), "method is 'lp'"),
        (lambda: relu_patterns(GOOD, method="sample", samples=0), "samples is 0"),
        (lambda: relu_patterns(GOOD, method="sample", samples=-3), "samples is -3"),
        (lambda: relu_patterns(GOOD, method="sample", samples=2.5), "samples is 2.5"),
        (lambda: relu_patterns(GOOD, max_patterns=0), "max_patterns is 0"),
        (lambda: sample_gates(GOOD, 10, generator=3), "generator is a int"),
        (lambda: sample_gates(GOOD, True), "samples is True"),
        (lambda: pattern_count(0, 3), "n is 0"),
        (lambda: pattern_count(3, 0), "d is 0"),
        (lambda: interior_points(GOOD, torch.ones(2, 3, dtype=torch.bool)), r"shape \(2, 3\)"),
        (lambda: interior_points(GOOD, torch.ones(4, dtype=torch.bool)), r"shape \(4,\)"),
        (lambda: interior_points(GOOD, 2 * torch.ones(1, 4)), "other than 0 and 1"),
        (lambda: interior_points(torch.ones(4), torch.ones(1, 4)), r"X has shape \(4,\)"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
