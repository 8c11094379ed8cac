"""The quadratic-nets study: data, cells against the convex optimum, summary, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.convex import lifted_least_squares
from landscope.problems import QuadraticNet
from landscope.studies import RunContext, get_study
from landscope.studies.quadratic_nets import make_data, make_problem

STUDY = get_study("quadratic-nets")
run_cell, summarize = STUDY.run_cell, STUDY.summarize
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, "d": 4, **kw}


def test_registered_grid() -> None:
    grid = STUDY.cells()
    assert len(grid) == 3 * 4 * 20
    assert {c["d"] for c in grid} == {10} and sorted({c["h"] for c in grid}) == list(range(1, 21))


@pytest.mark.parametrize("setup", ["identity", "gaussian", "nonplanted"])
def test_data_is_shared_and_planted(setup: str) -> None:
    X, y = make_data(cfg(setup=setup))
    assert X.shape == (20, 4) and y.shape == (20,)  # m = 2 * d(d+1)/2
    X2, y2 = make_data(cfg(setup=setup, h=7, variant="regular"))
    assert torch.equal(X, X2) and torch.equal(y, y2)  # every variant and h: same data
    sol = lifted_least_squares(X, y)
    planted = setup != "nonplanted"
    # a planted quadratic is fitted exactly; independent targets are not
    assert (sol.loss < 1e-20) == planted


def test_problem_knows_the_global_value_once_every_matrix_is_representable() -> None:
    X, y = make_data(cfg(setup="gaussian"))
    ls = lifted_least_squares(X, y).loss
    assert STUDY.make_problem is make_problem
    # h >= d units, or h >= d - 1 with the added norm (d = 4)
    assert make_problem(cfg(setup="gaussian", h=4)).global_min == ls
    assert make_problem(cfg(setup="gaussian", h=3)).global_min is None
    assert make_problem(cfg(setup="gaussian", h=3, variant="added_norm")).global_min == ls
    assert make_problem(cfg(setup="gaussian", h=2, variant="added_norm")).global_min is None
    # the read-off point is a regular network, never trained: float64 whatever is asked
    prob = make_problem(cfg(variant="least_squares", h=3), dtype="float32")
    assert prob.variant == "regular" and prob.dtype == torch.float64
    assert make_problem(cfg(variant="orthogonal"), dtype="float32").dtype == torch.float32


@pytest.mark.parametrize("variant", ["regular", "added_norm", "orthogonal", "least_squares"])
def test_cells_with_h_above_d_reach_the_convex_optimum(variant: str) -> None:
    c = cfg(setup="gaussian", variant=variant, h=6)
    rows = run_cell(c, list(range(6)), RunContext())
    assert [r["seed"] for r in rows] == list(range(6))
    X, y = make_data(c)
    sol = lifted_least_squares(X, y)
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["ls_loss"] == pytest.approx(sol.loss, abs=1e-15)
        # the convex optimum is a lower bound of every run (loss includes any penalty)
        assert r["loss"] >= sol.loss - 1e-12
        if r["reached_global"]:
            assert r["loss_gap"] <= c["rel_gap_tol"] and r["normalized_error"] < 1e-3
    if variant in ("added_norm", "least_squares", "orthogonal"):
        assert all(r["reached_global"] for r in rows)
    if variant == "least_squares":  # read off M*: not trained, not polished
        assert all(r["steps"] == 0 and r["opt_status"] == "none" for r in rows)
        assert all(r["polish_iters"] == 0 for r in rows)


def test_least_squares_below_rank_is_the_truncation() -> None:
    c = cfg(setup="gaussian", variant="least_squares", h=2)
    (row,) = run_cell(c, [0], RunContext())
    assert not row["reached_global"]
    X, y = make_data(c)
    M = lifted_least_squares(X, y).M
    lam, U = np.linalg.eigh(M)
    keep = np.argsort(-np.abs(lam))[:2]
    Mh = (U[:, keep] * lam[keep]) @ U[:, keep].T
    err = np.linalg.norm(Mh - M) / np.linalg.norm(M)
    assert row["normalized_error"] == pytest.approx(err, rel=1e-10)
    prob = QuadraticNet(X, y, h=2)
    assert row["loss"] == pytest.approx(float(prob.loss(prob.as_batch(row["params"]))), rel=1e-12)


def test_summary() -> None:
    rows = [
        BASE | {"config_hash": "x", "setup": "identity", "variant": "regular", "d": 4, "h": 4,
         "reached_global": g, "normalized_error": e, "verdict": v, "n_neg": nn, "steps": 5,
         "cell_wall_s": 0.5, "a_pos": ap, "a_neg": 4 - ap, "mstar_pos": 2, "mstar_neg": 2,
         "signs_short": ap < 2 or 4 - ap < 2}
        for g, e, v, nn, ap in [(True, 0.0, "global_min", 0, 2), (False, 0.3, "degenerate", 0, 1),
                                (False, 0.1, "saddle", 2, 2), (True, 0.0, "global_min", 0, 3)]
    ]  # fmt: skip
    (cell,) = summarize(rows)
    assert cell["runs"] == 4 and cell["reached_global"] == 0.5
    assert cell["normalized_error_mean"] == pytest.approx(0.1)
    assert cell["bad_error_mean"] == pytest.approx(0.2)
    assert cell["saddle"] == 0.25 and cell["degenerate"] == 0.25
    assert cell["bad_n_neg_mean"] == pytest.approx(1.0)
    assert cell["bad_sign_short"] == 0.5  # one of the two misses had a_pos = 1 < 2


def test_cli_json_and_plot(tmp_path: Path, capsys) -> None:
    argv = ["--set", "d=3", "--set", "h=2,3", "--set", "setup=identity",
            "--set", "variant=added_norm,least_squares", "--seeds", "3"]  # fmt: skip
    assert main(["run", "quadratic-nets", *argv, "--out", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", "quadratic-nets", "--out", str(tmp_path), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 4
    need = {"setup", "variant", "d", "h", "runs", "reached_global", "normalized_error_mean"}
    for c in cells:
        assert need <= set(c) and c["runs"] == 3
        if c["h"] >= 3:
            assert c["reached_global"] == 1.0
    assert main(["plot", "quadratic-nets", "--out", str(tmp_path)]) == 0
    files = capsys.readouterr().out.split()
    assert {Path(f).name for f in files} >= {"quadratic-nets.png", "quadratic-nets-error.png"}


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--set", "setup=planted"], "setup must be one of identity, gaussian, nonplanted"),
        (["--set", "variant=deep"], "variant must be one of"),
        (["--set", "h=0"], "h must be >= 1, got 0."),
        (["--set", "m_factor=-1"], "m_factor must be a positive number"),
    ],
)
def test_cli_bad_input(argv: list[str], match: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(["run", "quadratic-nets", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("landscope: error: ") and match in err
    assert not out.exists()


def test_no_run_reaches_the_optimum_with_too_few_signs() -> None:
    # Sylvester's law of inertia: W' diag(a) W has at most #(a > 0) positive eigenvalues,
    # so a run whose signs fall short of M*'s inertia cannot reach M*; at h = d the
    # regular variant has such runs for most seeds of the identity setup
    c = cfg(setup="identity", variant="regular", h=4)
    rows = run_cell(c, list(range(16)), RunContext())
    short = [r["a_pos"] < r["mstar_pos"] or r["a_neg"] < r["mstar_neg"] for r in rows]
    assert [r["signs_short"] for r in rows] == short
    assert all(r["a_pos"] + r["a_neg"] <= 4 for r in rows)
    assert any(short)
    for r, s in zip(rows, short, strict=True):
        if s:
            assert not r["reached_global"] and r["normalized_error"] > 1e-3
