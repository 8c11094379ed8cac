"""Declared summaries: aggregates over a cell's stored rows."""

from __future__ import annotations

import math

import pytest

from landscope.studies.summary import (
    Z95,
    Agg,
    Part,
    SummarySpec,
    param_keys,
    percent_range,
    wilson,
)

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


def test_wilson_against_its_closed_form_by_hand() -> None:
    z2 = Z95**2
    # none or all of n: one end at 0 or 1, the other z^2 / (n + z^2) from it
    assert wilson(0, 20) == pytest.approx((0.0, z2 / (20 + z2)), rel=1e-14)
    assert wilson(20, 20) == pytest.approx((20 / (20 + z2), 1.0), rel=1e-14)
    # half of n: centred on 1/2, half-width z / (2 sqrt(n + z^2))
    half = Z95 / (2 * math.sqrt(50 + z2))
    assert wilson(25, 50) == pytest.approx((0.5 - half, 0.5 + half), rel=1e-14)
    # 7 of 100, the general form written out: about 3.4 % .. 13.8 %
    p, n = 0.07, 100
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    width = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    assert wilson(7, 100) == pytest.approx((centre - width, centre + width), rel=1e-14)
    assert wilson(7, 100) == pytest.approx((0.034319, 0.137495), abs=1e-6)
    # Z95 is the 97.5 % quantile of the standard normal
    assert math.erfc(Z95 / math.sqrt(2)) / 2 == pytest.approx(0.025, rel=1e-14)


@pytest.mark.parametrize("n", [1, 2, 7, 20, 100, 1000])
def test_wilson_agrees_with_scipy(n: int) -> None:
    from scipy.stats import binomtest

    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson(k, n)
        assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-12, abs=1e-15), (k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    # a wider level, a wider interval
    lo99, hi99 = wilson(n // 2, n, z=2.5758293035489)
    ci = binomtest(n // 2, n).proportion_ci(confidence_level=0.99, method="wilson")
    assert (lo99, hi99) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-15)


def test_wilson_without_trials_and_bad_counts() -> None:
    assert wilson(0, 0) == (None, None)
    for k, n, match in [(3, 2, "0 <= successes <= n"), (-1, 5, "0 <= successes <= n"),
                        (1.5, 4, "whole counts"), (1, True, "whole counts")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            wilson(k, n)
    with pytest.raises(ValueError, match="positive z"):
        wilson(1, 2, z=0.0)


def test_fractions_and_shares_carry_their_interval() -> None:
    # share: 2 of the 3 misses did not converge; of all 5 runs: 2 of 5
    kept = Agg("x", "verdict", "share", ("not_converged",), MISSED)
    assert kept.binomial(ROWS) == (2, 3)
    assert kept.items(ROWS) == {"x": kept(ROWS), "x_lo": wilson(2, 3)[0], "x_hi": wilson(2, 3)[1]}
    every = Agg("x", "verdict", "share", ("not_converged",), MISSED, of_all=True)
    assert every.binomial(ROWS) == (2, 5)
    # fraction: 2 of 5 reached
    frac = Agg("x", "reached", "fraction")
    assert frac.binomial(ROWS) == (2, 5)
    lo, hi = frac.items(ROWS)["x_lo"], frac.items(ROWS)["x_hi"]
    assert (lo, hi) == wilson(2, 5) and lo < frac(ROWS) < hi
    # no trials: no interval; other aggregations: none at all
    assert frac.items([]) == {"x": None, "x_lo": None, "x_hi": None}
    for agg in (Agg("x", "verdict", "count", ("global_min",)), Agg("n", how="rows"),
                Agg("x", "verdict", "se", ("global_min",))):  # fmt: skip
        assert agg.binomial(ROWS) is None and list(agg.items(ROWS)) == [agg.key]


def test_summaries_and_parts_carry_the_intervals() -> None:
    spec = SummarySpec(
        keys=("k",),
        aggs=(Agg("typed", "kind", "share", ("a", "b")),),
        group=("k",),
        sort=lambda c: c["k"],
        parts=(
            Part(keys=("k", "typed", "typed_lo", "typed_hi")),
            Part(
                keys=("k",),
                where=("k", (3,)),
                aggs=(Agg("low", "loss", "fraction"), Agg("_big", "loss", "fraction")),
            ),
        ),
    )
    got = spec(STORED)
    lo3, hi3 = wilson(3, 4)
    assert got == [
        {"k": 2, "typed": 0.0, "typed_lo": 0.0, "typed_hi": wilson(0, 1)[1]},
        {"k": 3, "typed": 0.75, "typed_lo": lo3, "typed_hi": hi3},
        # a working value's interval is left out with it
        {"k": 3, "low": 0.75, "low_lo": lo3, "low_hi": hi3},
    ]
    plain = SummarySpec(keys=("k",), aggs=(Agg("typed", "kind", "share", ("a", "b")),))
    assert list(plain([r | {"config_hash": "h"} for r in STORED[:4]])[0]) == [
        "k", "runs", "typed", "typed_lo", "typed_hi", "wall_s"
    ]  # fmt: skip


def test_param_keys_and_percent_range() -> None:
    class P:
        def __init__(self, name: str) -> None:
            self.name = name

    params = [P("extra"), P("k"), P("step"), P("d")]
    assert param_keys(params, "k", "d") == ("k", "d", "extra", "step")
    assert param_keys(params) == ("extra", "k", "step", "d")
    assert percent_range(*wilson(7, 100)) == "3-14"
    assert percent_range(*wilson(19, 20)) == "76-99"  # 0.9911: not 100
    assert percent_range(*wilson(1, 20)) == "1-24"  # 0.0089: not 0
    assert percent_range(0.0, 1.0) == "0-100"
