"""The spurious-relu study: its cells, summary, CLI front door and a real kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from landscope.cli import main
from landscope.critical import VERDICTS
from landscope.studies import RunContext, get_study
from landscope.studies.spurious_relu import make_problem
from landscope.studies.summary import wilson
from landscope.sweep import STORE_FILE, ResultStore, run_study

STUDY = get_study("spurious-relu")
run_cell, summarize = STUDY.run_cell, STUDY.summarize
BASE = {p.name: p.default[0] for p in STUDY.params}


def cfg(**kw) -> dict:
    return {**BASE, **kw}


def test_registered_with_the_documented_defaults() -> None:
    assert STUDY.name == "spurious-relu"
    grid = STUDY.cells()
    assert len(grid) == 15 * 2
    assert sorted({c["k"] for c in grid}) == list(range(6, 21))
    assert sorted({c["extra"] for c in grid}) == [0, 2]
    assert grid[0]["extra"] == 0  # the n = k cells run first


def test_cell_rows_are_certified_and_complete() -> None:
    seeds = list(range(8))
    rows = run_cell(cfg(k=4, extra=0), seeds, RunContext())
    assert [r["seed"] for r in rows] == seeds
    prob = make_problem(cfg(k=4, extra=0))
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["verdict"] in VERDICTS
        assert r["n"] == 4 and len(r["params"]) == prob.n_params
        # a certified row's stored parameters give back its stored loss and gradient norm
        th = prob.as_batch(np.asarray(r["params"]))
        loss, g = prob.loss_and_grad(th)
        assert abs(float(loss[0]) - r["loss"]) <= 1e-15
        if r["verdict"] == "spurious_min":
            assert r["grad_norm"] <= r["cert_grad_tol"] == 1e-10
            assert float(g.norm()) <= 1e-10
        if r["verdict"] == "global_min":
            # certified by its loss (<= gap_tol 1e-9; GD stops at 1e-10 or at ||grad||
            # <= 1e-5, and such rows are not polished), so within ~sqrt(2 loss /
            # lambda_min) (lambda_min ~0.1) of the teacher, whatever its gradient
            assert r["loss"] <= r["cert_gap_tol"] and r["dist"] < 2e-4
    # k = 4 has no spurious minima (Safran & Shamir found none below k = 6)
    assert {r["verdict"] for r in rows} == {"global_min"}


@pytest.mark.parametrize("k, extra", [(6, 0), (7, 0), (6, 2), (8, 2)])
def test_polishing_to_the_global_value_keeps_every_verdict(k: int, extra: int) -> None:
    # the fast path (polish stops at loss <= gap_tol / 10; rows already within gap_tol
    # are not polished) against polishing every row to ||grad|| <= 1e-12, same seeds
    seeds = list(range(24))
    fast = run_cell(cfg(k=k, extra=extra), seeds, RunContext())
    slow = run_cell(cfg(k=k, extra=extra, polish_stop="gradient"), seeds, RunContext())
    assert [r["verdict"] for r in fast] == [r["verdict"] for r in slow]
    assert sum(r["polish_iters"] for r in fast) <= sum(r["polish_iters"] for r in slow)
    for a, b in zip(fast, slow, strict=True):
        if a["verdict"] == "spurious_min":  # the same minimum, polished both times
            assert abs(a["loss"] - b["loss"]) <= 1e-9


@pytest.mark.parametrize("k, extra", [(8, 0), (9, 0), (7, 2)])
def test_compiled_gd_keeps_every_verdict(monkeypatch, k: int, extra: int) -> None:
    # the compiled kernels (numba: the driver's GD and the Hessian that polishing and
    # certification use) against the batched torch passes, same seeds: the same steps to
    # rounding, so the same verdicts and step counts (measured: 15,000 of 15,000 seeds of
    # the n = k table, benchmarks/README.md)
    seeds = list(range(30))
    fast = run_cell(cfg(k=k, extra=extra), seeds, RunContext())
    monkeypatch.setenv("LANDSCOPE_FUSED", "0")
    slow = run_cell(cfg(k=k, extra=extra), seeds, RunContext())
    assert [r["verdict"] for r in fast] == [r["verdict"] for r in slow]
    assert [r["steps"] for r in fast] == [r["steps"] for r in slow]
    if k >= 8 and extra == 0:  # the cells reach more than one verdict
        assert len({r["verdict"] for r in fast}) >= 2
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a["eig_min"], b["eig_min"], rtol=1e-6, atol=1e-9)


def test_cell_finds_spurious_minima_at_k_10() -> None:
    # 33-36 % of runs end spurious at k = 10 (measured on 1,000 seeds); 40 seeds give
    # P(no spurious) < 1e-7
    rows = run_cell(cfg(k=10, extra=0), list(range(40)), RunContext())
    spur = [r for r in rows if r["verdict"] == "spurious_min"]
    assert len(spur) >= 1
    for r in spur:
        assert r["loss"] > 1e-3 and r["eig_min"] > r["cert_eig_tol"] and r["n_neg"] == 0
        assert r["dist"] > 0.1


def test_batched_cell_equals_per_seed_cells() -> None:
    # every run depends on its seed alone: one batch equals a loop of one-seed cells
    c = cfg(k=5, extra=1)
    batch = run_cell(c, [3, 4, 5], RunContext())
    for row in batch:
        (alone,) = run_cell(c, [row["seed"]], RunContext())
        assert alone["verdict"] == row["verdict"] and alone["steps"] == row["steps"]
        # same arithmetic on different batch shapes: BLAS may round differently
        np.testing.assert_allclose(alone["params"], row["params"], rtol=0, atol=1e-9)


def test_float32_training_is_certified_in_float64() -> None:
    rows = run_cell(cfg(k=4, extra=0, grad_tol=1e-4), list(range(4)), RunContext(dtype="float32"))
    assert {r["verdict"] for r in rows} == {"global_min"}
    # float32 GD stops at ||grad|| <= 1e-4; the float64 polish takes every row to the
    # global value (loss <= gap_tol / 10) or to ||grad|| <= 1e-10
    assert all(r["loss"] <= 1e-10 or r["grad_norm"] <= 1e-10 for r in rows)


def test_summary_fractions() -> None:
    rows = [
        BASE | {"config_hash": "h", "k": 6, "extra": 0, "d": 0, "train_a": 0,
                "optimizer": "gd", "verdict": v, "loss": loss, "eig_min": e, "steps": 10,
                "cell_wall_s": 1.0}
        for v, loss, e in [("global_min", 0.0, 0.1), ("spurious_min", 0.02, 0.01),
                           ("spurious_min", 0.04, 0.03), ("saddle", 0.1, -0.1)]
    ]  # fmt: skip
    (cell,) = summarize(rows)
    assert cell["runs"] == 4 and cell["n"] == 6 and cell["d"] == 6
    assert (cell["global"], cell["spurious_min"], cell["saddle"]) == (0.25, 0.5, 0.25)
    assert cell["not_converged"] == 0.0
    assert cell["spurious_loss_mean"] == pytest.approx(0.03)
    assert cell["spurious_eig_min_mean"] == pytest.approx(0.02)
    # every share carries its 95 % Wilson interval, and every parameter is a key
    assert (cell["spurious_min_lo"], cell["spurious_min_hi"]) == wilson(2, 4)
    assert (cell["not_converged_lo"], cell["not_converged_hi"]) == wilson(0, 4)
    assert {p.name for p in STUDY.params} <= set(cell)
    assert (cell["step"], cell["polish_stop"]) == (BASE["step"], BASE["polish_stop"])
    assert cell["spurious_se"] == pytest.approx(np.sqrt(0.25 / 4))


def test_cli_run_show_json_plot(tmp_path: Path, capsys) -> None:
    argv = ["--set", "k=3..4", "--set", "extra=0,1", "--seeds", "3", "--out", str(tmp_path)]
    assert main(["run", "spurious-relu", *argv, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", "spurious-relu", "--out", str(tmp_path), "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 4
    need = {"k", "n", "runs", "global", "spurious_min", "saddle", "not_converged",
            "spurious_loss_mean", "spurious_eig_min_mean"}  # fmt: skip
    for c in cells:
        assert need <= set(c)
        assert c["runs"] == 3 and c["global"] == 1.0 and c["n"] - c["k"] == c["extra"]
    assert main(["plot", "spurious-relu", "--out", str(tmp_path)]) == 0
    files = capsys.readouterr().out.split()
    assert any(f.endswith("spurious-relu.png") for f in files)
    assert all(Path(f).stat().st_size > 0 for f in files)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--set", "k=0"], "k must be >= 1, got 0."),
        (["--set", "k=6", "--set", "extra=-6"], "leaves n = 0 student neurons"),
        (["--set", "k=6", "--set", "d=3"], "the identity teacher needs d >= k, got d = 3"),
        (["--seeds", "0"], "seeds must be a positive integer; got 0."),
        (["--set", "width=3"], "has no parameter 'width'"),
        (["--set", "optimizer=sgd"], "optimizer must be one of gd, adam; got 'sgd'."),
        (["--set", "grad_tol=nan"], "grad_tol must be a positive number"),
        (["--set", "k=6", "--set", "train_a=2"], "train_a must be 0 or 1"),
        # refused before training: no route of certify takes P = 91^2 for this problem
        (
            ["--set", "k=91", "--set", "extra=0"],
            "spurious-relu with k = 91, n = 91, d = 91 has P = 8281 parameters, more than "
            "max_dense = 8192 for a dense Hessian spectrum",
        ),
        (["--dtype", "float16"], "unknown dtype 'float16'"),
    ],
)
def test_cli_bad_input(argv: list[str], match: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", "spurious-relu", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("landscope: error: ") and match in err and "\n" not in err
    assert not out.exists()  # validated before anything is created


def _stored(out: Path) -> list[dict]:
    with ResultStore(out, read_only=True) as store:
        return store.rows("spurious_relu", exclude=())


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    argv = ["run", "spurious-relu", "--set", "k=3..9", "--set", "extra=0", "--seeds", "24"]
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "landscope.cli", *argv, "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Cells finish every ~0.1-1 s after a ~2-3 s start-up; kill somewhere in between.
    # Whenever it lands, the store must hold whole cells only.
    deadline = time.monotonic() + 60
    while not (out / STORE_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = _stored(out) if (out / STORE_FILE).exists() else []
    by_cell: dict[int, list[int]] = {}
    for r in partial:
        by_cell.setdefault(r["k"], []).append(r["seed"])
    assert all(sorted(s) == list(range(24)) for s in by_cell.values())
    assert len(by_cell) < 7, "the kill came after the run ended; nothing was tested"

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({len(by_cell)} already done)" in resumed.stdout
    got = _stored(out)
    assert len(got) == 7 * 24
    assert len({(r["config_hash"], r["seed"]) for r in got}) == len(got)

    # Same seeds, same machine, same results as a run that was never interrupted.
    ref_out = tmp_path / "ref"
    run_study(STUDY, {"k": list(range(3, 10)), "extra": [0]}, 24, ref_out, progress=False)
    ref = {(r["k"], r["seed"]): r for r in _stored(ref_out)}
    for r in got:
        twin = ref[(r["k"], r["seed"])]
        assert r["verdict"] == twin["verdict"] and r["steps"] == twin["steps"]
        np.testing.assert_array_equal(r["params"], twin["params"])
