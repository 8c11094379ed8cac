"""The least-symmetry study: covariances, the maximal-isotropy test, noise-scaled isotropy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from landscope.studies import RunContext, get_study
from landscope.studies.least_symmetry import (
    STUDY,
    covariance,
    iso_class,
    make_problem,
    read_isotropy,
    run_cell,
    summarize,
)
from landscope.symmetry import isotropy

BASE = {p.name: p.default[0] for p in STUDY.params}


def _cls(W: np.ndarray, blocks: list[int]) -> str:
    iso = isotropy(W, "SnxSd", 1e-9, col_blocks=blocks)
    return iso_class(iso.col_orbits, iso.order, iso.name, blocks)


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


def test_registered_with_default_grid() -> None:
    assert get_study("least-symmetry") is STUDY or get_study("least-symmetry").name == STUDY.name
    grid = STUDY.cells()
    assert [c["sigma"] for c in grid] == ["iso", "equi:0.5", "scales:2"]
    assert all(c["k"] == 10 and c["activation"] == "softplus:4" for c in grid)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"sigma": ["nope"]}, "sigma must be iso, equi:c or scales:s"),
        ({"sigma": ["equi:1.5"]}, r"equi parameter must be a number in \[0, 1\)"),
        ({"sigma": ["equi:x"]}, "equi parameter"),
        ({"sigma": ["scales:-1"]}, r"scales parameter must be a number in \(0, inf\)"),
        ({"activation": ["nope"]}, "unknown activation 'nope'"),
        ({"m": [3]}, "m must be >= 10"),
    ],
)
def test_validation_errors(overrides, words) -> None:
    with pytest.raises(ValueError, match=words) as exc:
        STUDY.cells(overrides)
    assert "\n" not in str(exc.value)


def test_covariances_and_their_symmetries() -> None:
    d = 6
    S, blocks = covariance("iso", d)
    assert torch.equal(S, torch.eye(d, dtype=torch.float64)) and blocks == [0] * d
    S, blocks = covariance("equi:0.3", d)
    assert float(S[0, 0]) == 1.0 and float(S[0, 1]) == pytest.approx(0.3, abs=1e-15)
    assert blocks == [0] * d
    S, blocks = covariance("scales:2", d)
    assert torch.equal(torch.diag(S), torch.tensor([1.0, 1, 1, 2, 2, 2], dtype=torch.float64))
    assert blocks == [0, 0, 0, 1, 1, 1]
    # Q Sigma Q' = Sigma exactly for the permutations inside the blocks, not across them
    inside = [2, 0, 1, 5, 3, 4]
    across = [3, 1, 2, 0, 4, 5]
    assert torch.equal(S[inside][:, inside], S)
    assert not torch.equal(S[across][:, across], S)
    assert covariance("scales:1", d)[1] == [0] * d  # equal scales: one block again


def test_iso_class_of_constructed_points() -> None:
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


def test_read_isotropy_sees_the_group_through_sampling_noise() -> None:
    """W_A, W_B = one Delta S_7 point plus independent noise of size 1e-3: read at twice
    max |W_A - W_B|, the group is Delta S_7 (entry classes differ by >= 0.03), stable."""
    gen = np.random.default_rng(3)
    W = _young(8, [7, 1], gen)
    WA = W + 1e-3 * gen.uniform(-1, 1, W.shape)
    WB = W + 1e-3 * gen.uniform(-1, 1, W.shape)
    got = read_isotropy(WA, WB, [0] * 8)
    assert got["isotropy"] == "Delta S_7" and got["iso_order"] == 5040
    assert got["iso_class"] == "maximal" and got["iso_stable"]
    assert got["noise"] <= 2e-3 and got["iso_tol"] == 2 * got["noise"]
    # without the noise scale (tolerance 1e-9) the same point looks trivial
    assert isotropy(WA, "SnxSd", 1e-9).name == "trivial"


def test_run_cell_rows_and_summary() -> None:
    cfg = BASE | {"k": 4, "m": 400, "max_steps": 300}
    rows = run_cell(cfg, [0, 1, 2], RunContext())
    assert [r["seed"] for r in rows] == [0, 1, 2]
    prob = make_problem(cfg)
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["params"].shape == (16,)
        # the stored point is the certified one
        loss = float(prob.loss(torch.as_tensor(r["params"])[None])[0])
        assert loss == pytest.approx(r["loss"], rel=1e-12, abs=1e-15)
        if r["verdict"] != "spurious_min":
            assert r["isotropy"] is None
    summary = summarize([r | cfg for r in rows])
    head = summary[0]
    assert head["isotropy"] == "(all spurious)" and head["runs"] == 3
    assert head["count"] == sum(r["verdict"] == "spurious_min" for r in rows)


def test_summary_counts_types_and_maximal_fraction() -> None:
    cfg = BASE | {"k": 8}
    mk = dict.fromkeys(STUDY.columns)

    def row(seed, verdict, iso=None, cls=None, vb=None):
        return mk | cfg | {"seed": seed, "verdict": verdict, "loss": 0.01, "eig_min": 1e-3,
                           "isotropy": iso, "iso_order": 5040 if iso else None,
                           "iso_class": cls, "verdict_b": vb, "noise": 0.05 if iso else None,
                           "iso_stable": True if iso else None}  # fmt: skip

    rows = [
        row(0, "global_min"),
        row(1, "spurious_min", "Delta S_7", "maximal", "spurious_min"),
        row(2, "spurious_min", "Delta S_7", "maximal", "spurious_min"),
        row(3, "spurious_min", "order 48 group", "other", "spurious_min"),
        row(4, "spurious_min", None, None, "saddle"),  # not re-found on B
    ]
    head, *types = summarize(rows)
    assert (head["runs"], head["global"], head["count"], head["spurious_on_b"]) == (5, 1, 4, 3)
    assert head["maximal_fraction"] == pytest.approx(2 / 3)
    assert [(t["isotropy"], t["count"], t["class"]) for t in types] == [
        ("Delta S_7", 2, "maximal"),
        ("order 48 group", 1, "other"),
    ]
