"""The dropout-rate study: data, the measured rate against the Hessian's, the closed-form
minimizer, the ODE check, summary and CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.problems import whitened_minimizer
from landscope.studies import RunContext, get_study
from landscope.studies.dropout_rate import (
    balanced,
    fit_rate,
    make_data,
    make_problem,
    normal_rate,
)

STUDY = get_study("dropout-rate")
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, "width": 2, "keep": 0.5, "sgd_steps": 200, **kw}


def test_registered_grid() -> None:
    cells = STUDY.cells()
    assert len(cells) == 2 * 3 * 3 * 2
    assert {c["kind"] for c in cells} == {"dropout", "dropconnect"}
    assert sorted({c["keep"] for c in cells}) == [0.5, 0.7, 0.9]


def test_data() -> None:
    X, Y = make_data(cfg(data="whitened"))
    assert X.shape == (64, 4) and Y.shape == (64, 3)
    torch.testing.assert_close(X.T @ X / 64, torch.eye(4, dtype=torch.float64), rtol=0,
                               atol=1e-13)  # fmt: skip
    Xc, _ = make_data(cfg(data="correlated"))
    S = Xc.T @ Xc / 64
    assert (S - torch.eye(4, dtype=torch.float64)).abs().max() > 0.1  # not whitened
    assert torch.equal(make_data(cfg())[0], X)  # one data set per data_seed
    assert not torch.equal(make_data(cfg(data_seed=1))[0], X)


def test_fit_rate_recovers_a_geometric_decay() -> None:
    steps = np.arange(0, 2000, 50)
    g = 3.0 * 0.99**steps
    assert fit_rate(g, steps, 1e-9, 1.0) == pytest.approx(0.99, rel=1e-12)
    assert math.isnan(fit_rate(g, steps, 1e-30, 1e-20))


def test_normal_rate_of_one_unit_is_the_closed_form() -> None:
    # r = 1, one input and one output, whitened: L = const - c u v + (1 + lam)/2 u^2 v^2;
    # on the minimizer set u v = c / (1 + lam) the Hessian's nonzero eigenvalue is
    # (1 + lam)(u^2 + v^2), its zero mode the rescaling (u t, v / t)
    c, q = 1.3, 0.6
    lam = (1 - q) / q
    X = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    Y = c * X
    from landscope.problems import DropoutLinear

    prob = DropoutLinear(X, Y, width=1, keep=q)
    s = c / (1 + lam)
    for u in (0.5, 1.0, 2.0):
        theta = torch.tensor([[u, s / u]], dtype=torch.float64)
        rate, zeros = normal_rate(prob, theta)
        assert zeros[0] == 1
        assert rate[0] == pytest.approx((1 + lam) * (u * u + (s / u) ** 2), rel=1e-12)
        # balancing moves along the zero mode to |u| = |v|: the slowest point of the orbit
        rb, _ = normal_rate(prob, balanced(prob, theta))
        assert rb[0] == pytest.approx(2 * (1 + lam) * s, rel=1e-12) and rb[0] <= rate[0]


def test_cell_rows_recomputed_from_the_parameters() -> None:
    c = cfg(data="whitened", width=3, keep=0.7)
    rows = STUDY.run_cell(c, [0, 1, 2], RunContext())
    prob = make_problem(c)
    wm = whitened_minimizer(prob.C, 3, 0.7, prob.y_sq)
    for r in rows:
        assert r["opt_status"] == "converged"  # ||grad|| <= grad_tol
        theta = torch.as_tensor(np.asarray(r["params"]))[None]
        # the end point is the closed-form minimizer (acceptance: to 1e-6)
        assert (prob.product(theta)[0] - wm.W).abs().max() <= 1e-6
        assert abs(r["gap_closed_form"]) <= 1e-12
        rate, zeros = normal_rate(prob, theta, c["zero_tol"])
        assert r["rate_exact"] == pytest.approx(rate[0], rel=1e-9)
        assert r["zero_modes"] == zeros[0]
        # the measured asymptotic rate is the exact local one (acceptance: within 10 %)
        assert r["rate_measured"] == pytest.approx(r["rate_exact"], rel=0.1)
        assert r["flow_time"] > 0 and r["eta"] > 0
        assert r["sgd_end"] > 0 and r["sgd_path"] > 0
    # the ODE run (the first): its rate matches the exact rate at its own end point, and
    # it ends near GD's end point (GD at eta lambda_max = 1 is O(eta) off the flow)
    first = rows[0]
    assert first["rate_ode"] == pytest.approx(first["rate_ode_exact"], rel=0.1)
    assert first["ode_gap"] < 0.1
    assert all(math.isnan(r["rate_ode"]) for r in rows[1:])


def test_cli_run_show_plot(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    sets = ["width=2", "keep=0.5,0.9", "data=whitened", "kind=dropout", "sgd_steps=100"]
    argv = ["run", "dropout-rate", *(a for s in sets for a in ("--set", s)), "--seeds", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["show", "dropout-rate", "--out", str(out), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 2
    for cell in cells:
        keys = {"kind", "keep", "width", "runs", "rate_measured", "rate_exact", "rate_bound"}
        assert keys <= set(cell) and cell["runs"] == 2
        assert cell["rate_error"] < 0.1
    assert main(["plot", "dropout-rate", "--out", str(out)]) == 0
    for stem in ("dropout-rate-vs-keep", "dropout-rate-vs-width", "dropout-rate-tails"):
        assert (out / "figures" / f"{stem}.png").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("keep=0", "keep must be a number in"), ("kind=dropblock", "kind must be one of"),
     ("grad_tol=1e-3", "grad_tol (0.001) must be below tail_from"),
     ("samples=2", "whitened data need samples >= d_in")],
)  # fmt: skip
def test_cli_bad_settings_are_one_sentence(tmp_path: Path, capsys, setting, message) -> None:
    argv = ["run", "dropout-rate", "--set", setting, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()
