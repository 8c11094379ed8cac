"""The cost estimate before a run: refuse what cannot fit, pass every default, extrapolate time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from toy_study import make_toy_study

import landscope.sweep.cost as cost
from landscope.studies import config_hash, get_study, studies
from landscope.sweep import ResultStore
from landscope.sweep.cost import Estimate, available_bytes, check_fits, estimate
from landscope.sweep.runner import run_study

GIB = 2**30
RELU = get_study("spurious-relu")


def grid(study, overrides=None) -> dict[str, dict]:
    """config hash -> cell, as run_study hands cells to the estimate."""
    return {config_hash(study.name, c): c for c in study.cells(overrides)}


def test_three_million_seeds_are_refused_in_one_sentence(tmp_path: Path) -> None:
    est = estimate(RELU, grid(RELU), 3_000_000, tmp_path)
    # the largest cell: k = 20, n = 22 student neurons of dimension 20
    assert (est.runs, est.params, est.cells) == (3_000_000, 440, 30)
    # at least the batch itself (8 bytes a value), at most a few times the model's terms
    assert 3_000_000 * 440 * 8 < est.peak_bytes < 3_000_000 * 440 * 1000
    pattern = (
        r"this run needs about [\d,]+ GiB for its largest cell "
        r"\(3,000,000 runs x 440 parameters\), more than the 64 GiB available; "
        r"use fewer --seeds or split the grid\."
    )
    with pytest.raises(ValueError, match=f"^{pattern}$"):
        check_fits(est, available_bytes=64 * GIB)
    have = available_bytes()
    assert have is not None and have > 0  # /proc/meminfo on Linux
    if have < est.peak_bytes:  # this machine's own memory, as run_study will check it
        with pytest.raises(ValueError, match="use fewer --seeds"):
            check_fits(est)


@pytest.mark.parametrize("name", sorted(studies()))
def test_every_default_size_fits_easily(name: str, tmp_path: Path) -> None:
    study = studies()[name]
    est = estimate(study, grid(study), study.default_seeds, tmp_path)
    assert est.cells == len(grid(study)) and est.runs == study.default_seeds
    assert est.params is not None and est.params > 0, est.basis
    assert est.peak_bytes < 2 * GIB, est.describe()
    check_fits(est, available_bytes=2 * GIB)


def test_spurious_relu_with_1000_seeds_fits_easily(tmp_path: Path) -> None:
    small = estimate(RELU, grid(RELU), 100, tmp_path)
    est = estimate(RELU, grid(RELU), 1000, tmp_path)
    assert small.peak_bytes < est.peak_bytes < 2 * GIB
    check_fits(est, available_bytes=2 * GIB)


def test_the_peak_is_the_largest_cell_or_the_jobs_largest(tmp_path: Path) -> None:
    cells = grid(RELU, {"k": [6, 12], "extra": [0]})
    one = estimate(RELU, cells, 10_000, tmp_path)
    alone = {
        k: estimate(RELU, grid(RELU, {"k": [k], "extra": [0]}), 10_000, tmp_path).peak_bytes
        for k in (6, 12)
    }
    assert one.peak_bytes == alone[12] > alone[6] and one.params == 144
    two = estimate(RELU, cells, 10_000, tmp_path, jobs=2)
    assert two.peak_bytes == alone[6] + alone[12]
    with pytest.raises(ValueError, match=r"its 2 largest cells at once \(the largest: 10,000 "):
        check_fits(two, available_bytes=alone[12])


def test_time_is_extrapolated_from_the_stored_cells(tmp_path: Path) -> None:
    run_study(RELU, {"k": [4, 5], "extra": [0]}, 6, tmp_path, progress=False)
    with ResultStore(tmp_path, read_only=True) as store:
        rows = store.rows(RELU.table_name)
    # one run_cell call per cell: every row of a cell carries the same cell_wall_s
    rate = {r["config_hash"]: r["cell_wall_s"] / 6 for r in rows}
    assert len(rate) == 2
    mean = sum(rate.values()) / 2

    cells = grid(RELU, {"k": [4, 5, 6], "extra": [0]})
    est = estimate(RELU, cells, 10, tmp_path)
    # 4 more seeds of each stored cell at its own rate, 10 of the new cell at the mean
    want = 4 * sum(rate.values()) + 10 * mean
    assert est.seconds == pytest.approx(want, rel=1e-12)
    assert est.cells == 3 and est.runs == 10
    assert "extrapolated from 12 stored runs in 2 cells" in est.basis
    assert re.search(r"about \d+ s", est.describe())

    # every cell complete: nothing to run, nothing to hold
    done = estimate(RELU, grid(RELU, {"k": [4, 5], "extra": [0]}), 6, tmp_path)
    assert (done.seconds, done.cells, done.runs, done.peak_bytes) == (0.0, 0, 0, 0)
    assert done.describe() == "estimate: nothing to run (every cell is stored)"


def test_no_store_no_time(tmp_path: Path) -> None:
    est = estimate(RELU, grid(RELU, {"k": [6]}), 100, tmp_path / "nothing")
    assert est.seconds is None
    assert "time: unknown, no stored runs of this study to extrapolate from" in est.basis
    assert "time unknown" in est.describe()
    assert not (tmp_path / "nothing").exists()  # the estimate creates nothing


def test_unknown_parameters_are_said_and_assumed(tmp_path: Path) -> None:
    toy = make_toy_study()
    est = estimate(toy, grid(toy, {"a": [1, 2]}), 1000, tmp_path)
    assert est.params is None and est.runs == 1000 and est.cells == 4
    assert "P unknown for 4 of 4 cells (study 'toy' builds no problem)" in est.basis
    assert "1,000 parameters per run assumed" in est.basis
    assert est.largest() == "1,000 runs, parameters unknown"
    with pytest.raises(ValueError, match=r"\(1,000 runs, parameters unknown\)"):
        check_fits(est, available_bytes=1)


def test_unknown_memory_refuses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    huge = Estimate(peak_bytes=10**18, seconds=None, basis="", runs=1, params=1, cells=1)
    monkeypatch.setattr(cost, "_available", lambda: None)
    check_fits(huge)
    monkeypatch.setattr(cost, "_available", lambda: 10**9)
    with pytest.raises(ValueError, match=r"more than the 953 MiB available"):
        check_fits(huge)


@pytest.mark.parametrize("seeds", [0, -1, 2.5, True])
def test_bad_seeds(seeds, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^seeds must be a positive integer; got "):
        estimate(RELU, grid(RELU, {"k": [6]}), seeds, tmp_path)


def test_an_unreadable_store_leaves_the_time_unknown(tmp_path: Path) -> None:
    (tmp_path / "results.duckdb").write_text("not a database")
    est = estimate(RELU, grid(RELU, {"k": [6], "extra": [0]}), 100, tmp_path)
    assert est.seconds is None and est.params == 36
    assert "time: unknown, the store could not be read (cannot open results store" in est.basis


def test_run_refuses_a_run_that_cannot_fit_before_anything_starts(tmp_path: Path, capsys) -> None:
    from landscope.cli import main

    out = tmp_path / "big"
    argv = ["run", "spurious-relu", "--seeds", "3000000", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("estimate: 30 cells")  # what it would cost, then the refusal
    assert "landscope: error: this run needs about" in err and "use fewer --seeds" in err
    assert list(out.iterdir()) == []  # no store, no lock, no plan
    # below ESTIMATE_FROM_SEEDS nothing is estimated (no problem is built)
    calls = []
    real = cost.estimate
    cost.estimate = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        run_study(get_study("spurious-relu"), {"k": [3], "extra": [0]}, 3, tmp_path / "s")
    finally:
        cost.estimate = real
    assert calls == []
