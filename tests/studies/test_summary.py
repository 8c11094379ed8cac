"""Declared summaries: aggregates over a cell's stored rows."""

from __future__ import annotations

import math

import pytest

from landscope.studies.summary import Agg, Part, SummarySpec

ROWS = [
    {"verdict": v, "reached": r}
    for v, r in [
        ("global_min", True),
        ("not_converged", True),
        ("not_converged", False),
        ("degenerate", False),
        ("not_converged", False),
    ]
]
MISSED = ("reached", (False,))


def test_share_of_the_kept_rows_or_of_all_rows() -> None:
    # 2 of the 3 misses did not converge; they are 2 of all 5 runs
    kept = Agg("x", "verdict", "share", ("not_converged",), MISSED)
    assert kept(ROWS) == pytest.approx(2 / 3)
    every = Agg("x", "verdict", "share", ("not_converged",), MISSED, of_all=True)
    assert every(ROWS) == pytest.approx(2 / 5)
    se = Agg("x", "verdict", "se", ("not_converged",), MISSED, of_all=True)
    assert se(ROWS) == pytest.approx(math.sqrt(0.4 * 0.6 / 5))
    # fraction: the true values among the kept rows, out of all rows
    nc = ("verdict", ("not_converged",))
    assert Agg("x", "reached", "fraction", where=nc)(ROWS) == pytest.approx(1 / 3)
    assert Agg("x", "reached", "fraction", where=nc, of_all=True)(ROWS) == pytest.approx(1 / 5)
    # without `where` the two agree
    assert Agg("x", "reached", "fraction", of_all=True)(ROWS) == Agg("x", "reached", "fraction")(
        ROWS
    )


def test_no_rows() -> None:
    assert Agg("x", "reached", "fraction", of_all=True)([]) is None
    assert math.isnan(Agg("x", "verdict", "share", ("global_min",), of_all=True)([]))


def test_rows_counts_the_kept_rows() -> None:
    assert Agg("n", how="rows")(ROWS) == 5
    assert Agg("n", how="rows", where=MISSED)(ROWS) == 3


# two cells (k = 3 stored first), runs with a type and a loss, and pairs as array columns
STORED = [
    {"k": 3, "seed": 0, "kind": "a", "loss": 0.10000001, "partners": [], "bar": []},
    {"k": 3, "seed": 1, "kind": None, "loss": 0.0, "partners": None, "bar": None},
    {"k": 3, "seed": 2, "kind": "a", "loss": 0.10000002, "partners": [0], "bar": [0.5]},
    {"k": 3, "seed": 3, "kind": "b", "loss": 0.3, "partners": [0, 2], "bar": [0.1, 0.3]},
    {"k": 2, "seed": 0, "kind": None, "loss": 0.0, "partners": None, "bar": None},
]
TYPED = ("kind", ("a", "b"))


def _spec() -> SummarySpec:
    return SummarySpec(
        keys=("k",),
        aggs=(Agg("typed", "kind", "count", ("a", "b")),),
        group=("k",),
        sort=lambda c: c["k"],
        parts=(
            Part(keys=("k", "runs"), derived=(("what", lambda s: "all"),)),
            Part(
                keys=("k", "typed"),
                where=TYPED,
                columns=(("_loss", lambda r: round(r["loss"], 6)),),
                group=("kind", "_loss"),
                aggs=(Agg("count", how="rows"), Agg("loss", "loss")),
                sort=lambda s: (-s["count"], s["_loss"]),
            ),
            Part(
                keys=("k",),
                where=TYPED,
                explode=("partners", "bar"),
                columns=(("pair", lambda r: "low" if r["bar"] < 0.4 else "high"),),
                group=("pair",),
                aggs=(Agg("pairs", how="rows"), Agg("bar_max", "bar", "max")),
            ),
        ),
    )


def test_parts_give_several_kinds_of_rows_per_cell() -> None:
    got = _spec()(STORED)
    assert got == [
        # k = 2 sorts first; its rows have no type and no pair: the header only
        {"k": 2, "runs": 1, "what": "all"},
        {"k": 3, "runs": 4, "what": "all"},
        # grouped by kind and rounded loss ("_loss" is left out), the larger group first
        {"k": 3, "typed": 3, "kind": "a", "count": 2, "loss": pytest.approx(0.100000015)},
        {"k": 3, "typed": 3, "kind": "b", "count": 1, "loss": 0.3},
        # one record per pair, grouped by a column computed from it, first-seen order
        {"k": 3, "pair": "high", "pairs": 1, "bar_max": 0.5},
        {"k": 3, "pair": "low", "pairs": 2, "bar_max": 0.3},
    ]


def test_without_parts_one_row_per_cell() -> None:
    spec = SummarySpec(keys=("k",), group=("k",), sort=lambda c: -c["k"])
    assert [(c["k"], c["runs"]) for c in spec(STORED)] == [(3, 4), (2, 1)]


def test_exploded_columns_need_equal_lengths() -> None:
    bad = [{**STORED[3], "bar": [0.1]}]
    part = Part(explode=("partners", "bar"), aggs=(Agg("n", how="rows"),))
    with pytest.raises(ValueError, match="equal lengths per row, got partners: 2, bar: 1"):
        part({}, bad)


def test_curve_gmean_is_the_elementwise_geometric_mean() -> None:
    rows = [{"c": [1.0, 4.0, 1e-300]}, {"c": None}, {"c": (4.0, 1.0, 1e-300)}, {"c": [2.0] * 3}]
    got = Agg("g", "c", "curve_gmean")(rows)
    assert isinstance(got, list) and all(isinstance(v, float) for v in got)
    # (1 * 4 * 2)^(1/3) = 2 both ways; tiny values stay finite (a mean of logs)
    want = [2.0, 2.0, (1e-300 * 1e-300 * 2.0) ** (1 / 3)]
    assert got == pytest.approx(want, rel=1e-14)
    assert Agg("g", "c", "curve_gmean")([{"c": None}]) is None
    with pytest.raises(ValueError, match=r"one length, got lengths \[1, 2\]"):
        Agg("g", "c", "curve_gmean")([{"c": [1.0]}, {"c": [1.0, 2.0]}])
