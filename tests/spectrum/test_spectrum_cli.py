"""``landscope spectrum`` on tiny stored spurious-relu runs: dense and Lanczos reports, figures,
and one clear sentence (exit 2) for every bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscope.cli import main
from landscope.studies.spurious_relu import STUDY, make_problem
from landscope.sweep import ResultStore

# The study alone, so that these tests see only what they exercise.
REGISTRY = {STUDY.name: STUDY}


def run(*argv, registry=REGISTRY) -> int:
    return main([str(a) for a in argv], registry=registry)


def spectrum(out, *argv, registry=REGISTRY) -> int:
    """``landscope spectrum spurious-relu --out OUT ...``."""
    return run("spectrum", "spurious-relu", "--out", out, *argv, registry=registry)


def error_sentence(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("landscope: error: ") and lines[0].endswith(".")
    return lines[0].removeprefix("landscope: error: ")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two cells: (k, extra) = (6, 0) with seeds 0..2 and (3, 0) with seed 0 (~2 s)."""
    out = tmp_path_factory.mktemp("spectrum")
    for k, seeds in ((6, 3), (3, 1)):
        assert (
            run(
                "run",
                "spurious-relu",
                "--out",
                out,
                "--quiet",
                "--seeds",
                seeds,
                "--set",
                f"k={k}",
                "--set",
                "extra=0",
            )
            == 0
        )
    return out


def _stored_point(out: Path, k: int, seed: int):
    with ResultStore(out, read_only=True) as s:
        row = next(
            r for r in s.rows("spurious_relu", exclude=()) if r["k"] == k and r["seed"] == seed
        )
    prob = make_problem({p.name: row[p.name] for p in STUDY.params})
    return prob, torch.tensor(row["params"], dtype=torch.float64)[None]


def test_study_declares_its_problem() -> None:
    assert STUDY.make_problem is make_problem


def test_dense_report_and_stem_figure(store: Path, capsys) -> None:
    capsys.readouterr()
    assert (
        spectrum(
            store,
            "--seed",
            0,
            "--set",
            "k=6",
            "--set",
            "extra=0",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "exact spectrum (dense eigvalsh)" in out and "distinct to 1e-06" in out
    for suffix in ("png", "svg"):
        (fig,) = (store / "figures").glob(f"spectrum-spurious-relu-*-seed0.{suffix}")
        assert fig.stat().st_size > 0


def test_dense_json_matches_an_independent_eigensolver(store: Path, capsys) -> None:
    capsys.readouterr()
    assert (
        spectrum(
            store,
            "--seed",
            1,
            "--set",
            "k=6",
            "--format",
            "json",
        )
        == 0
    )
    rep = json.loads(capsys.readouterr().out)
    assert rep["method"] == "dense" and rep["n_params"] == 36 and rep["seed"] == 1
    assert rep["config"]["k"] == 6 and rep["config"]["extra"] == 0
    prob, theta = _stored_point(store, 6, 1)
    H = prob.hessian(theta)[0].numpy()
    ref = np.linalg.eigvalsh(0.5 * (H + H.T))  # numpy's LAPACK on the same Hessian
    np.testing.assert_allclose(rep["eigenvalues"], ref, rtol=0, atol=1e-12)
    assert rep["eig_min"] == min(rep["eigenvalues"]) and rep["eig_max"] == max(rep["eigenvalues"])
    assert rep["negative"] + rep["near_zero"] + rep["positive"] == 36
    assert sum(d["multiplicity"] for d in rep["distinct"]) == 36
    assert rep["loss"] == pytest.approx(float(prob.loss(theta)[0]), abs=1e-15)
    assert [Path(p).suffix for p in rep["figures"]] == [".png", ".svg"]


def test_lanczos_report_agrees_with_dense(store: Path, capsys) -> None:
    capsys.readouterr()
    assert (
        spectrum(
            store,
            "--seed",
            2,
            "--set",
            "k=6",
            "--max-dense",
            0,
            "--format",
            "json",
        )
        == 0
    )
    rep = json.loads(capsys.readouterr().out)
    assert rep["method"] == "lanczos"
    prob, theta = _stored_point(store, 6, 2)
    ev = np.linalg.eigvalsh(prob.hessian(theta)[0].numpy())
    # Lanczos to machine precision (see test_lanczos.py): 1e-8 absolute on O(1) values.
    np.testing.assert_allclose(rep["largest"], ev[::-1][:5], rtol=0, atol=1e-8)
    np.testing.assert_allclose(rep["smallest"], ev[:5], rtol=0, atol=1e-8)
    assert max(rep["bounds"]) < 1e-10
    # stochastic parts within 6 standard errors (see test_trace.py, test_slq.py)
    assert abs(rep["trace"] - ev.sum()) <= 6 * rep["trace_stderr"]
    assert abs(rep["slq_mean"] - ev.mean()) <= 6 * rep["slq_mean_stderr"]
    assert abs(rep["slq_second_moment"] - (ev**2).mean()) <= 6 * rep["slq_second_moment_stderr"]
    (fig,) = (store / "figures").glob("spectrum-spurious-relu-*-seed2.png")
    assert fig.stat().st_size > 0


def test_table_report_of_the_lanczos_path(store: Path, capsys) -> None:
    capsys.readouterr()
    assert (
        spectrum(
            store,
            "--set",
            "k=3",
            "--max-dense",
            0,
            "--k",
            2,
            "--probes",
            12,
            "--steps",
            5,
        )
        == 0
    )
    out = capsys.readouterr().out
    for text in ("largest (Lanczos)", "smallest (Lanczos)", "trace (Hutch++)", "SLQ (10 probes"):
        assert text in out, out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--set", "extra=0"],
            "2 cells of 'spurious-relu' match extra=0; pin one with --set for k (one of 3, 6).",
        ),
        (
            ["--set", "k=6,3"],
            "--set k gives 2 values; spectrum takes one value per parameter.",
        ),
        (
            ["--set", "k=7"],
            "no stored run of 'spurious-relu' matches k=7 in '{out}'; `landscope show "
            "spurious-relu --out {out}` lists the stored cells.",
        ),
        (
            ["--set", "k=6", "--seed", 5],
            "the cell of 'spurious-relu' with k=6 has no seed 5; its stored seeds are 0, 1, 2.",
        ),
        (
            ["--set", "width=3"],
            "study 'spurious-relu' has no parameter 'width'; its parameters are extra, k, d, "
            "train_a, optimizer, step, grad_tol, max_steps, polish_from, polish_tol, "
            "polish_stop, retrain_factor.",
        ),
        (
            ["--set", "k=3", "--max-dense", 0, "--k", 9],
            "k = 9 eigenvalues at one end need k < P = 9 for Lanczos; use dense_spectrum for "
            "the whole spectrum.",
        ),
    ],
)
def test_bad_input_one_sentence_exit_2(store: Path, capsys, argv, expected) -> None:
    capsys.readouterr()
    assert spectrum(store, *argv) == 2
    assert error_sentence(capsys) == expected.format(out=store)


def test_no_store_and_no_make_problem(tmp_path: Path, store: Path, capsys) -> None:
    assert spectrum(tmp_path / "none") == 2
    assert error_sentence(capsys).startswith("no results for study 'spurious-relu' in")
    # a study without a protocol (run_cell and columns only) and no make_problem
    bare_study = dataclasses.replace(
        STUDY, protocol=None, run_cell=STUDY.run_cell, columns=STUDY.columns, make_problem=None
    )
    bare = {STUDY.name: bare_study}
    assert spectrum(store, "--set", "k=6", registry=bare) == 2
    assert error_sentence(capsys) == (
        "study 'spurious-relu' cannot rebuild the problem of a stored run (it has no "
        "make_problem), so spectrum does not apply to it."
    )


def test_figures_of_two_cells_with_one_seed_do_not_collide(store: Path, capsys) -> None:
    """Seed 0 of the two stored cells (k = 6 and k = 3): two figures, named by cell hash."""
    for k in (6, 3):
        args = ["spectrum", "spurious-relu", "--out", str(store), "--seed", "0"]
        assert main([*args, "--set", f"k={k}", "--set", "extra=0"]) == 0
    capsys.readouterr()
    assert len(list((store / "figures").glob("spectrum-spurious-relu-*-seed0.png"))) == 2
