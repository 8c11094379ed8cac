"""The convex-relu study: data, cells against the certified convex optimum, summary, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.convex import fit_relu, nonconvex_objective
from landscope.data import regression_set
from landscope.studies import RunContext, get_study
from landscope.studies.convex_relu import convex_optimum, make_data, make_problem

STUDY = get_study("convex-relu")
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, "n": 8, "d": 1, "max_steps": 3000, **kw}


def test_registered_grid() -> None:
    grid = STUDY.cells()
    assert len(grid) == 3 * 6
    assert sorted({c["width"] for c in grid}) == [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize("data", ["planted", "random", "digits"])
def test_data_has_a_bias_column_and_is_shared(data: str) -> None:
    X, y = make_data(cfg(data=data))
    assert X.shape == (8, 2) and y.shape == (8,)
    assert torch.equal(X[:, -1], torch.ones(8, dtype=torch.float64))
    X2, y2 = make_data(cfg(data=data, width=5, init_scale=0.3))
    assert torch.equal(X, X2) and torch.equal(y, y2)  # every width and init: same data
    if data == "digits":
        assert set(y.tolist()) <= {-1.0, 1.0}


def test_regression_set_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown data"):
        regression_set("nope", 8, 1)
    with pytest.raises(ValueError, match="357"):
        regression_set("digits", 400, 2)


def test_problem_knows_the_convex_optimum() -> None:
    c = cfg(data="random")
    X, y = make_data(c)
    fit = fit_relu(X, y, c["beta"])
    prob = make_problem(c)
    assert prob.global_min == pytest.approx(fit.objective, rel=1e-12)
    # the optimal network, as a row of the problem, has the convex optimum as its loss
    U, alpha = fit.weights()
    m = U.shape[0]
    prob_m = make_problem({**c, "width": m})
    row = prob_m.join(U[None], alpha[None])
    assert float(prob_m.loss(row)[0]) == pytest.approx(fit.objective, rel=1e-10)


def test_cell_rows_and_the_certificate_bound_the_excess() -> None:
    c = cfg(data="planted", width=4)
    rows = STUDY.run_cell(c, [0, 1, 2, 3], RunContext())
    assert len(rows) == 4
    p_star = convex_optimum(c).objective
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["p_star"] == pytest.approx(p_star, rel=1e-12)
        # the certificate is an upper bound on the excess over p* (both relative to p*)
        assert r["cert_gap"] >= r["excess"] - 1e-9
        assert r["excess"] >= -1e-6  # p* is a global minimum: no run goes below it
        assert r["reached"] == (r["excess"] <= c["reach_tol"])
        # the stored loss is the non-convex objective of the stored weights
        X, y = make_data(c)
        theta = torch.as_tensor(np.asarray(r["params"]))
        U, alpha = theta[: 4 * 2].reshape(4, 2), theta[4 * 2 :]
        assert nonconvex_objective(X, y, U, alpha, c["beta"]) == pytest.approx(
            p_star * (1 + r["excess"]), rel=1e-9
        )


def test_one_neuron_misses_a_noise_fit() -> None:
    # random labels need many neurons: a single one stays far above p*, and its
    # certificate says so without knowing p*
    c = cfg(data="random", width=1)
    rows = STUDY.run_cell(c, [0, 1], RunContext())
    assert all(not r["reached"] and r["cert_gap"] > 0.05 for r in rows)


def test_cli_run_show_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    sets = ["data=planted,random", "n=8", "d=1", "width=1,6", "max_steps=2000"]
    argv = ["run", "convex-relu", *(a for s in sets for a in ("--set", s)), "--seeds", "3"]
    argv += ["--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["show", "convex-relu", "--out", str(out), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 4
    for cell in cells:
        assert {"width", "beta", "runs", "reached_optimum", "gap_median"} <= set(cell)
        assert cell["runs"] == 3 and 0.0 <= cell["reached_optimum"] <= 1.0
        if cell["reached_optimum"] < 1.0:
            assert cell["gap_median"] > 0
    assert main(["plot", "convex-relu", "--out", str(out)]) == 0
    assert (out / "figures" / "convex-relu.png").exists()
    assert (out / "figures" / "convex-relu-gaps.svg").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("beta=0", "beta must be a positive number"), ("data=nope", "data must be one of"),
     ("d=9", "activation patterns")],
)  # fmt: skip
def test_cli_bad_settings_are_one_sentence(tmp_path: Path, capsys, setting, message) -> None:
    argv = ["run", "convex-relu", "--set", setting, "--set", "max_patterns=100",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()
