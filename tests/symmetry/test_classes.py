"""Classes of isotropy groups (maximal / full / other), read through noise, named by family."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from landscope.symmetry import (
    ISOTROPY_CLASSES,
    isotropy,
    isotropy_class,
    isotropy_family,
    read_isotropy,
)


def _cls(W: np.ndarray, blocks: list[int]) -> str:
    return isotropy_class(isotropy(W, "SnxSd", 1e-9, col_blocks=blocks), blocks)


def _young(k: int, sizes: list[int], gen: np.random.Generator) -> np.ndarray:
    """A point fixed by Delta(S_a x S_b ...) on consecutive index blocks, and no more.

    Within block p: diagonal a_p, off-diagonal b_pq towards block q; all values distinct.
    """
    edges = np.cumsum([0, *sizes])
    W = np.empty((k, k))
    vals = iter(gen.permutation(np.linspace(0.05, 0.95, 4 * len(sizes) ** 2)))
    for p, q in itertools.product(range(len(sizes)), repeat=2):
        W[edges[p] : edges[p + 1], edges[q] : edges[q + 1]] = next(vals)
    for p in range(len(sizes)):
        d = next(vals) + 1.0
        for i in range(edges[p], edges[p + 1]):
            W[i, i] = d
    return W


def test_isotropy_class_of_constructed_points() -> None:
    gen = np.random.default_rng(0)
    k = 8
    one = [0] * k
    assert _cls(np.eye(k), one) == "full"
    assert _cls(_young(k, [7, 1], gen), one) == "maximal"  # Delta S_7
    assert _cls(_young(k, [6, 2], gen), one) == "maximal"  # Delta(S_2 x S_6)
    assert _cls(_young(k, [4, 4], gen), one) == "other"  # equal parts: not maximal
    assert _cls(_young(k, [5, 2, 1], gen), one) == "other"  # two splits
    assert _cls(gen.standard_normal((k, k)), one) == "other"  # trivial group
    # two blocks of coordinates (Sigma = diag(1, 1, 1, 1, 2, 2, 2, 2))
    two = [0] * 4 + [1] * 4
    assert _cls(np.eye(k), two) == "full"
    assert _cls(_young(k, [3, 1, 4], gen), two) == "maximal"  # Delta(S_3 x S_4)
    assert _cls(_young(k, [3, 1, 3, 1], gen), two) == "other"  # both blocks split
    assert _cls(_young(k, [2, 2, 4], gen), two) == "other"  # equal parts
    # a group that permutes rows alone (two equal neurons) is not diagonal
    W = _young(k, [7, 1], gen)
    W[1] = W[0]
    assert _cls(W, one) == "other"


def test_classes_are_named() -> None:
    assert ISOTROPY_CLASSES == ("maximal", "full", "other")


def test_read_isotropy_sees_the_group_through_sampling_noise() -> None:
    """W_A, W_B = one Delta S_7 point plus independent noise of size 1e-3: read at twice
    max |W_A - W_B|, the group is Delta S_7 (entry classes differ by >= 0.03), stable."""
    gen = np.random.default_rng(3)
    W = _young(8, [7, 1], gen)
    WA = W + 1e-3 * gen.uniform(-1, 1, W.shape)
    WB = W + 1e-3 * gen.uniform(-1, 1, W.shape)
    got = read_isotropy(WA, WB, [0] * 8)
    assert got.isotropy.name == "Delta S_7" and got.isotropy.order == 5040
    assert got.cls == "maximal" and got.stable
    assert got.noise == np.abs(WA - WB).max() and got.noise <= 2e-3
    assert got.tol == 2 * got.noise
    # without the noise scale (tolerance 1e-9) the same point looks trivial
    assert isotropy(WA, "SnxSd", 1e-9).name == "trivial"
    # read at a tenth of the noise, part of the group is lost
    low = read_isotropy(WA, WB, [0] * 8, factor=0.1)
    assert low.tol == pytest.approx(0.1 * got.noise, rel=1e-15)
    assert low.isotropy.order < got.isotropy.order


def test_read_isotropy_unstable_when_the_group_depends_on_the_tolerance() -> None:
    """Two entry classes 3x the noise apart merge between 1x and 4x the noise: unstable."""
    W = np.eye(4)
    WA, WB = W.copy(), W.copy()
    WB[0, 1] = 1e-3  # noise 1e-3
    WA[0, 1] = 3e-3  # one off-diagonal entry 3x the noise away from the others
    got = read_isotropy(WA, WB, [0] * 4)
    assert not got.stable


def test_read_isotropy_errors() -> None:
    with pytest.raises(ValueError, match="WA has shape"):
        read_isotropy(np.eye(3), np.eye(4), [0] * 3)
    with pytest.raises(ValueError, match="factor must be a positive number"):
        read_isotropy(np.eye(3), np.eye(3), [0] * 3, factor=0.0)


def test_family_names_line_up_across_k() -> None:
    assert isotropy_family("Delta S_8", 9) == isotropy_family("Delta S_6", 7) == "Delta S_(k-1)"
    assert isotropy_family("Delta(S_2 x S_7)", 9) == "Delta(S_2 x S_(k-2))"
    assert isotropy_family("Delta S_9", 9) == "Delta S_k"
    assert isotropy_family("trivial", 9) == "trivial"
