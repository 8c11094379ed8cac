"""The univariate-regimes study: references, measurements recomputed from the stored
parameters, the regime label, summary and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.interpolate import CubicSpline

from landscope.cli import main
from landscope.data import univariate_set
from landscope.studies import RunContext, get_study
from landscope.studies.univariate_regimes import make_problem, references, regime

STUDY = get_study("univariate-regimes")
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, "width": 50, "ratio": 10.0, "max_steps": 20_000, **kw}


def test_registered_grid_and_regime_labels() -> None:
    cells = STUDY.cells()
    assert len(cells) == 2 * 3 * 5
    assert sorted({c["width"] for c in cells}) == [50, 500, 2000]
    assert [regime(r) for r in (1e-3, 0.5, 1.0, 10.0)] == ["kernel", "kernel", "adaptive",
                                                           "adaptive"]  # fmt: skip


@pytest.mark.parametrize("data", ["alternating", "smooth"])
def test_references(data: str) -> None:
    ref = references(cfg(data=data))
    x, y = univariate_set(data, {"alternating": 6, "smooth": 7}[data])
    xn, yn = x.numpy(), y.numpy()
    assert ref.grid[0] == xn[0] and ref.grid[-1] == xn[-1] and len(ref.grid) == 1001
    # the natural cubic spline, independently: its second derivative vanishes at the ends
    spline = CubicSpline(xn, yn, bc_type="natural")
    assert np.allclose(spline(xn, 2)[[0, -1]], 0.0, atol=1e-12)
    assert np.allclose(ref.cubic, spline(ref.grid), rtol=0, atol=1e-14)
    # the linear spline is linear between the data: its midpoints are the chords' means
    mids = (xn[1:] + xn[:-1]) / 2
    assert np.allclose(np.interp(mids, ref.grid, ref.linear), (yn[1:] + yn[:-1]) / 2, atol=1e-3)
    # the weight-decay optimum (beta 1e-3) nearly interpolates (its shrinkage is of order
    # beta / spacing: within 2 % of range(y) at the data), piecewise linearly with few
    # knots: its second differences on the grid vanish but at a handful of places
    at_data = np.interp(xn, ref.grid, ref.wd)
    assert np.abs(at_data - yn).max() <= 0.02 * ref.y_range
    kinks = np.abs(np.diff(ref.wd, 2)) > 1e-9
    assert 1 <= kinks.sum() <= 2 * (len(xn) + 1)


def test_cell_rows_recomputed_from_the_parameters() -> None:
    c = cfg(data="alternating")
    rows = STUDY.run_cell(c, [0, 1], RunContext())
    prob, ref = make_problem(c), references(c)
    for r in rows:
        assert r["opt_status"] == "converged"  # interpolated to the loss target
        theta = torch.as_tensor(np.asarray(r["params"]))[None]
        f = prob.predict(theta, torch.as_tensor(ref.grid))[0].numpy()
        for key, g in (("dist_cubic", ref.cubic), ("dist_linear", ref.linear)):
            assert r[key] == pytest.approx(np.abs(f - g).max() / ref.y_range, rel=1e-12)
        assert r["nearer"] == ("cubic" if r["dist_cubic"] < r["dist_linear"] else "linear")
        assert r["flow_time"] > 0 and r["final_loss"] <= c["loss_tol"] * 0.5 * 6 * 0.25
        # the drift of c^2 - a^2 - b^2 is GD's departure from the flow (O(eta) over the run)
        assert r["drift"] >= 0
        # adaptive (ratio 10): knots at the data and the linear spline
        assert r["dist_linear"] < 0.05 < r["dist_cubic"] and r["knot_to_data"] < 0.05


def test_cli_run_show_plot(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    sets = ["data=alternating", "width=50", "ratio=0.1,10", "max_steps=8000"]
    argv = ["run", "univariate-regimes", *(a for s in sets for a in ("--set", s)), "--seeds", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["show", "univariate-regimes", "--out", str(out), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 2
    for cell in cells:
        keys = {"regime", "width", "ratio", "runs", "dist_cubic", "dist_linear", "knot_to_data"}
        assert keys <= set(cell) and cell["runs"] == 2
        assert cell["regime"] == regime(cell["ratio"])
    assert main(["plot", "univariate-regimes", "--out", str(out)]) == 0
    for stem in ("univariate-regimes-cubic-alternating", "univariate-regimes-functions-alternating",
                 "univariate-regimes-knots-alternating"):  # fmt: skip
        assert (out / "figures" / f"{stem}.png").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("width=11", "width must be even"), ("ratio=0", "ratio must be a positive number"),
     ("data=nope", "data must be one of"), ("step_frac=3", "step_frac must be a number in")],
)  # fmt: skip
def test_cli_bad_settings_are_one_sentence(tmp_path: Path, capsys, setting, message) -> None:
    argv = ["run", "univariate-regimes", "--set", setting, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()
