"""The convex-bn study: data, the convex references, cells against p*, summary, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.convex import bn_objective, closed_form_bn, fit_relu_bn
from landscope.studies import RunContext, get_study
from landscope.studies.convex_bn import make_data, make_problem, parse_shape, references

STUDY = get_study("convex-bn")
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, "shape": "10x2", "n_test": 50, "max_steps": 1500, **kw}


def test_registered_grid() -> None:
    grid = STUDY.cells()
    assert len(grid) == 2 * 2 * 6
    assert sorted({c["width"] for c in grid}) == [1, 2, 4, 8, 16, 32]
    assert {c["shape"] for c in grid} == {"20x3", "12x16"}


@pytest.mark.parametrize("data", ["planted", "digits"])
def test_data_split_and_shared_by_every_width(data: str) -> None:
    X, y, Xt, yt = make_data(cfg(data=data))
    assert X.shape == (10, 2) and y.shape == (10,) and Xt.shape == (50, 2) and yt.shape == (50,)
    X2, *_ = make_data(cfg(data=data, width=5, init_scale=0.3))
    assert torch.equal(X, X2)
    # decay: the second feature is scaled by 0.7 against the first (same draws otherwise)
    Xd, *_ = make_data(cfg(data=data, decay=1.0))
    assert torch.allclose(X, Xd * torch.tensor([1.0, 0.7], dtype=torch.float64), rtol=1e-15)


@pytest.mark.parametrize(("text", "ok"), [("20x3", (20, 3)), ("12X16", (12, 16))])
def test_parse_shape(text: str, ok: tuple) -> None:
    assert parse_shape(text) == ok


@pytest.mark.parametrize("text", ["20", "2x3", "ax3", "20x0", "1x2x3"])
def test_parse_shape_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="shape"):
        parse_shape(text)


def test_references_are_the_convex_programs() -> None:
    c = cfg(shape="6x8", beta=0.2)  # rank(Xc) = 5 = n - 1: the closed form applies
    X, y, Xt, yt = make_data(c)
    ref = references(c)
    full = fit_relu_bn(X, y, c["beta"])
    # two certified solves of p* agree to 2e-6 (each within 1e-6)
    assert ref.p_star == pytest.approx(full.objective, rel=2e-6)
    assert ref.rank == 5 and 1 <= ref.k_rule <= 5 and len(ref.values) == 5
    # nested programs: the optimum falls with k (to two solves' tolerance)
    assert np.all(np.diff(ref.values) <= 2e-6 * ref.values[:-1])
    closed = closed_form_bn(X, y, c["beta"]).objective
    assert ref.closed_excess == pytest.approx((closed - ref.p_star) / ref.p_star, abs=1e-12)
    assert ref.closed_excess >= -2e-6  # an upper bound on p* (s = 1)
    # the problem knows p*, and its loss at the optimal weights is p*
    U, gamma, b, alpha = full.weights()
    prob = make_problem({**c, "width": len(alpha)})
    assert prob.global_min == ref.p_star
    row = prob.join(U, gamma, b, alpha)
    assert float(prob.loss(row)[0]) == pytest.approx(full.objective, rel=1e-10)
    # low-dimensional data: no closed form
    assert references(cfg()).closed_excess is None


def test_cell_rows_against_p_star() -> None:
    c = cfg(data="planted", width=6)
    rows = STUDY.run_cell(c, [0, 1, 2, 3], RunContext())
    ref = references(c)
    X, y, *_ = make_data(c)
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["excess"] >= -2e-6  # p* is the global minimum (to its certificate)
        assert r["cert_gap"] >= r["excess"] - 2e-6  # the gap bounds the excess
        assert r["reached"] == (r["excess"] <= c["reach_tol"])
        assert r["near"] == (r["excess"] <= c["near_tol"])
        assert 0 <= r["active"] <= 6 and 1 <= r["k_best"] <= ref.rank
        assert r["dist_best"] <= min(r["dist_full"], r["dist_rule"]) + 1e-12
        assert r["p_rule"] >= r["p_star"] * (1 - 2e-6)
        assert 0 <= r["test_err"] < 10 and r["test_full"] == pytest.approx(ref.test_err[-1])
        # the stored loss is the BN objective of the stored weights
        theta = torch.as_tensor(np.asarray(r["params"]))[None]
        U, gamma, b, alpha = (t[0] for t in make_problem(c).parts(theta))
        value = bn_objective(X, y, (U, gamma, b, alpha), c["beta"])
        assert value == pytest.approx(ref.p_star * (1 + r["excess"]), rel=1e-9)


def test_cli_run_show_plot(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    sets = ["data=planted", "shape=10x2,5x6", "width=1,6", "max_steps=800", "n_test=40"]
    argv = ["run", "convex-bn", *(a for s in sets for a in ("--set", s)), "--seeds", "3"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["show", "convex-bn", "--out", str(out), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 4
    for cell in cells:
        assert {"width", "beta", "runs", "reached_optimum", "gap_median"} <= set(cell)
        assert cell["runs"] == 3 and 0.0 <= cell["reached_optimum"] <= 1.0
        assert (cell["closed_excess"] is None) == (cell["shape"] == "10x2")
    assert main(["plot", "convex-bn", "--out", str(out)]) == 0
    for stem in ("convex-bn", "convex-bn-test", "convex-bn-gaps"):
        assert (out / "figures" / f"{stem}.png").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("beta=0", "beta must be a positive number"), ("data=random", "data must be one of"),
     ("shape=40x9", "activation patterns"), ("shape=4", "shape must be"),
     ("energy=1.5", "energy must be a number in")],
)  # fmt: skip
def test_cli_bad_settings_are_one_sentence(tmp_path: Path, capsys, setting, message) -> None:
    argv = ["run", "convex-bn", "--set", setting, "--set", "max_patterns=1000",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()
