"""The quadratic-deep study: data, a cell end to end, the summary, the CLI and figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from landscope.cli import main
from landscope.problems.deep_quadratic import DeepQuadraticNet
from landscope.studies import RunContext, get_study
from landscope.studies.quadratic_deep import make_data, n_samples

STUDY = get_study("quadratic-deep")
run_cell, summarize = STUDY.run_cell, STUDY.summarize
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, "d": 3, **kw}


def test_registered_grid() -> None:
    grid = STUDY.cells()
    assert len(grid) == 3 * 2 * 8
    assert {c["d"] for c in grid} == {8, 9, 10} and {c["depth"] for c in grid} == {2}
    with pytest.raises(ValueError, match="depth"):
        STUDY.cells({"depth": [4]})


def test_data_is_planted_and_shared_by_variants_and_widths() -> None:
    X, y = make_data(cfg())
    assert X.shape == (n_samples(cfg()), 3) == (2 * math.comb(3 + 3, 4), 3)
    X2, y2 = make_data(cfg(h=7, variant="added_norm"))
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert float(y.var()) > 0


def test_problem_and_its_global_value() -> None:
    X, y = make_data(cfg())
    prob = STUDY.make_problem(cfg(h=3, variant="added_norm"))
    assert torch.equal(prob.X, X) and torch.equal(prob.y, y)
    assert prob.widths == (3, 3) and prob.added_norm and prob.global_min == 0.0
    # narrower than the teacher: the global value is unknown
    assert STUDY.make_problem(cfg(h=1)).global_min is None


def test_a_cell_end_to_end() -> None:
    c = cfg(h=4)
    rows = run_cell(c, [0, 1, 2, 3], RunContext())
    assert [r["seed"] for r in rows] == [0, 1, 2, 3]
    X, y = make_data(c)
    prob = DeepQuadraticNet(X, y, widths=(4, 4))
    L0 = 0.5 * float((y * y).mean())
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["n_params"] == prob.n_params == len(r["params"])
        # the stored point and the stored loss agree
        loss = float(prob.loss(torch.as_tensor(r["params"])[None]))
        assert loss == pytest.approx(r["loss"], rel=1e-9, abs=1e-300)
        assert r["loss_gap"] == pytest.approx(r["loss"] / L0, rel=1e-12)
        assert r["reached_global"] == (r["loss_gap"] <= c["rel_gap_tol"])
        if r["reached_global"]:
            # the global value is 0 for h >= teacher; a row still creeping into a
            # degenerate zero-loss minimum can miss grad_tol, never be a saddle or minimum
            assert r["verdict"] in ("global_min", "not_converged")
        if r["verdict"] == "global_min":  # no spectrum for rows at the global value
            assert r["eig_method"] == "none"
    # measured: every run of this cell reaches the teacher (loss / L0 <= 1e-10)
    assert all(r["reached_global"] for r in rows)


def test_uncertified_rows_when_too_large_and_summary() -> None:
    rows = run_cell(cfg(h=2, max_certify=0, variant="added_norm"), [0, 1], RunContext())
    # no spectrum: a row at the global value 0 is settled by its loss, the others not
    assert [r["verdict"] for r in rows] == [
        "global_min" if r["loss"] <= 1e-9 else "uncertified" for r in rows
    ]
    assert {r["verdict"] for r in rows} == {"global_min", "uncertified"}  # measured
    assert all(r["eig_min"] is None and math.isfinite(r["grad_norm"]) for r in rows)
    for r in rows:
        r.update(config_hash="x", cell_wall_s=1.0, **cfg(h=2, variant="added_norm"))
    (s,) = summarize(rows)
    assert s["runs"] == 2 and 0 <= s["reached_global"] <= 1
    assert s["global_min"] == 0.5 and s["bad_n_neg_mean"] is None


def test_cli_run_show_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["--set", "d=3", "--set", "h=2,3", "--seeds", "3", "--out", str(out)]
    assert main(["run", "quadratic-deep", *args, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", "quadratic-deep", "--out", str(out), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 4
    for c in cells:
        assert {"d", "depth", "variant", "h", "runs", "reached_global"} <= set(c)
        assert c["runs"] == 3
    assert main(["plot", "quadratic-deep", "--out", str(out)]) == 0
    assert (out / "figures" / "quadratic-deep.png").stat().st_size > 0
