"""Running studies: bookkeeping, resume, validation before work, and a real kill -9."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from toy_study import expected_value, make_toy_study

import landscope
from landscope.plot import plot_study
from landscope.studies import RunContext, config_hash
from landscope.sweep import (
    STORE_FILE,
    ResultStore,
    RunReport,
    run_study,
    show_study,
    study_schema,
)

TOY_SCRIPT = Path(__file__).with_name("toy_study.py")


def recording(study, calls: list):
    """The study, with every run_cell call's (config, seeds) appended to ``calls``."""
    inner = study.run_cell

    def run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
        calls.append((dict(cfg), list(seeds)))
        return inner(cfg, seeds, ctx)

    return dataclasses.replace(study, run_cell=run_cell)


def stored(out: Path, exclude=("params",)) -> list[dict]:
    with ResultStore(out, read_only=True) as store:
        return store.rows("toy", exclude=exclude)


def test_rows_carry_config_and_bookkeeping(tmp_path: Path) -> None:
    toy = make_toy_study(width=5)
    report = run_study(toy, {"a": [1, 2]}, 3, tmp_path, progress=False)
    assert isinstance(report, RunReport)
    assert (report.cells_total, report.cells_run, report.cells_skipped) == (4, 4, 0)
    assert report.rows_written == 12 and report.out_dir == tmp_path and report.wall_s > 0
    rows = stored(tmp_path, exclude=())
    assert len(rows) == 12
    first = rows[0]
    cfg = {"a": 1, "b": "x", "c": 0.5}
    assert {k: first[k] for k in cfg} == cfg
    assert first["seed"] == 0 and first["value"] == expected_value(cfg, 0)
    assert first["params"] == [expected_value(cfg, 0)] * 5
    assert first["config_hash"] == config_hash("toy", cfg)
    assert first["study"] == "toy" and first["version"] == landscope.__version__
    assert (first["device"], first["dtype"]) == ("cpu", "float64")
    assert first["cell_wall_s"] >= 0
    assert list(first)[:3] == ["a", "b", "c"]  # configuration columns first, in param order
    assert set(first) == set(study_schema(toy))


def test_resume_skips_finished_cells_and_runs_only_missing_seeds(tmp_path: Path) -> None:
    calls: list = []
    toy = recording(make_toy_study(), calls)
    run_study(toy, {"a": [1, 2]}, 2, tmp_path, progress=False)
    assert len(calls) == 4 and all(seeds == [0, 1] for _, seeds in calls)

    calls.clear()
    report = run_study(toy, {"a": [1, 2]}, 2, tmp_path, progress=False)
    assert calls == []
    assert (report.cells_run, report.cells_skipped, report.rows_written) == (0, 4, 0)

    calls.clear()
    report = run_study(toy, {"a": [1, 2]}, 4, tmp_path, progress=False)  # --seeds grew
    assert len(calls) == 4 and all(seeds == [2, 3] for _, seeds in calls)
    assert report.rows_written == 8

    calls.clear()
    report = run_study(toy, {"a": [1, 2, 3]}, 4, tmp_path, progress=False)  # a new cell value
    assert sorted(cfg["a"] for cfg, _ in calls) == [3, 3]
    assert (report.cells_total, report.cells_run, report.cells_skipped) == (6, 2, 4)

    rows = stored(tmp_path)
    keys = [(r["config_hash"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 24


def test_duplicate_values_make_one_cell(tmp_path: Path) -> None:
    report = run_study(make_toy_study(), {"a": [2, 2]}, 1, tmp_path, progress=False)
    assert report.cells_total == 2 and report.rows_written == 2


def test_interrupt_keeps_finished_cells_only(tmp_path: Path) -> None:
    toy = make_toy_study()
    inner = toy.run_cell
    started: list = []

    def third_cell_interrupted(cfg, seeds, ctx):
        started.append(cfg)
        if len(started) == 3:
            raise KeyboardInterrupt
        return inner(cfg, seeds, ctx)

    with pytest.raises(KeyboardInterrupt):
        run_study(
            dataclasses.replace(toy, run_cell=third_cell_interrupted),
            None,
            3,
            tmp_path,
            progress=False,
        )
    assert len(stored(tmp_path)) == 6  # two whole cells, nothing of the third
    report = run_study(toy, None, 3, tmp_path, progress=False)
    assert (report.cells_run, report.cells_skipped, report.rows_written) == (4, 2, 12)


def test_progress_bars_are_driven_by_the_hook(tmp_path: Path) -> None:
    """With progress on and no terminal (pytest captures), the run still works."""
    report = run_study(make_toy_study(), {"a": [1]}, 3, tmp_path, progress=True)
    assert report.rows_written == 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seeds": 0}, "seeds must be a positive integer; got 0"),
        ({"seeds": -2}, "seeds must be a positive integer"),
        ({"seeds": 2.5}, "seeds must be a positive integer"),
        ({"seeds": True}, "seeds must be a positive integer"),
        ({"overrides": {"z": [1]}}, "has no parameter 'z'"),
        ({"overrides": {"a": [0]}}, "a must be at least 1"),
        ({"overrides": {"a": []}}, "was given no values"),
        ({"overrides": {"a": [60], "b": ["y"]}}, "not allowed with b='y'"),
        ({"device": "tpu"}, "device"),
        ({"dtype": "float16"}, "unknown dtype"),
    ],
)
def test_bad_input_is_refused_before_anything_is_created(tmp_path: Path, kwargs, match) -> None:
    calls: list = []
    args = {"overrides": None, "seeds": 2, **kwargs}
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match):
        run_study(
            recording(make_toy_study(), calls),
            args["overrides"],
            args["seeds"],
            out,
            device=kwargs.get("device", "cpu"),
            dtype=kwargs.get("dtype", "float64"),
            progress=False,
        )
    assert calls == []
    assert not out.exists()


def test_unwritable_out_dir_is_refused_before_computing(tmp_path: Path) -> None:
    calls: list = []
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot write to output folder"):
        run_study(
            recording(make_toy_study(), calls), None, 2, tmp_path / "file" / "out", progress=False
        )
    assert calls == []


@pytest.mark.parametrize(
    ("bad_rows", "match"),
    [
        (lambda rows: rows[:-1], "returned no row for seed 1"),
        (lambda rows: [*rows, rows[0]], "more than one row for a seed"),
        (lambda rows: [*rows, {**rows[0], "seed": 7}], "row for seed 7, not asked for"),
        (lambda rows: [{**r, "extra_col": 1} for r in rows], "undeclared column 'extra_col'"),
        (lambda rows: [{k: v for k, v in r.items() if k != "value"} for r in rows], "lack column"),
        (lambda rows: tuple(rows), "must return a list of dicts"),
    ],
)
def test_a_study_breaking_the_row_contract_writes_nothing(tmp_path: Path, bad_rows, match) -> None:
    toy = make_toy_study()
    inner = toy.run_cell
    broken = dataclasses.replace(
        toy, run_cell=lambda cfg, seeds, ctx: bad_rows(inner(cfg, seeds, ctx))
    )
    with pytest.raises(ValueError, match=match):
        run_study(broken, None, 2, tmp_path, progress=False)
    with ResultStore(tmp_path, read_only=True) as store:
        assert not store.has_table("toy")


def test_schema_clash_is_refused(tmp_path: Path) -> None:
    toy = dataclasses.replace(make_toy_study(), columns={"version": "VARCHAR"})
    with pytest.raises(ValueError, match="declares result column 'version'"):
        run_study(toy, None, 1, tmp_path, progress=False)


def test_show_and_plot(tmp_path: Path) -> None:
    toy = make_toy_study()
    for fn in (show_study, plot_study):
        with pytest.raises(ValueError, match="run it first"):
            fn(toy, tmp_path / "nothing")
        assert not (tmp_path / "nothing").exists()
    run_study(toy, {"a": [1, 2]}, 4, tmp_path, progress=False)
    summary = show_study(toy, tmp_path)
    assert [(s["a"], s["b"], s["runs"]) for s in summary] == [
        (1, "x", 4),
        (1, "y", 4),
        (2, "x", 4),
        (2, "y", 4),
    ]
    paths = plot_study(toy, tmp_path)
    assert paths == [tmp_path / "figures" / "toy-even.png", tmp_path / "figures" / "toy-even.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    # Another study's table in the same store is not this study's results.
    other = dataclasses.replace(toy, name="other")
    with pytest.raises(ValueError, match="no results for study 'other'"):
        show_study(other, tmp_path)


def test_show_reads_a_store_written_before_the_study_gained_a_column(tmp_path: Path) -> None:
    toy = make_toy_study()
    run_study(toy, {"a": [1]}, 2, tmp_path, progress=False)
    seen = []

    def summarize(rows: list[dict]) -> list[dict]:
        seen.extend(r["newer"] for r in rows)
        return toy.summarize(rows)

    results = dataclasses.replace(toy.results, summarize=summarize)
    newer = dataclasses.replace(toy, columns={**toy.columns, "newer": "DOUBLE"},
                                results=results)  # fmt: skip
    assert len(show_study(newer, tmp_path)) == 2
    assert seen == [None] * 4  # the old rows read None in the new column, not a KeyError


def test_jobs_in_worker_processes_give_the_same_rows(tmp_path: Path) -> None:
    from landscope.studies import get_study
    from landscope.sweep import ResultStore

    study = get_study("spurious-relu")
    grid = {"k": [5, 6], "extra": [0, 1]}
    one = run_study(study, grid, 6, tmp_path / "one", progress=False)
    two = run_study(study, grid, 6, tmp_path / "two", progress=False, jobs=2)
    assert one.rows_written == two.rows_written == 24 and two.cells_run == 4

    def rows(d: Path) -> dict:
        with ResultStore(d, read_only=True) as store:
            return {(r["k"], r["extra"], r["seed"]): r for r in store.rows(study.table_name)}

    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert a.keys() == b.keys()
    for key, r in a.items():
        # a worker runs with its own torch threads: the same steps and verdicts, the
        # same numbers but for the order of a few reductions
        assert (r["verdict"], r["steps"]) == (b[key]["verdict"], b[key]["steps"])
        assert abs(r["loss"] - b[key]["loss"]) <= 1e-12
    # resuming with jobs: nothing left to do
    again = run_study(study, grid, 6, tmp_path / "two", progress=False, jobs=2)
    assert again.cells_run == 0


def test_jobs_fall_back_to_this_process_and_are_checked(tmp_path: Path) -> None:
    toy = make_toy_study()  # not registered: workers could not look it up
    report = run_study(toy, {"a": [1, 2]}, 2, tmp_path, progress=False, jobs=2)
    assert report.cells_run == 4
    from landscope.studies import get_study
    from landscope.sweep.runner import _parallel_ok

    # workers look studies up by name: only the registry's own objects go to them
    assert _parallel_ok(get_study("spurious-relu")) is None
    assert "not registered" in _parallel_ok(dataclasses.replace(get_study("spurious-relu")))
    assert "Require" in _parallel_ok(get_study("spurious-spectra"))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be a positive integer"):
            run_study(toy, None, 2, tmp_path / "x", progress=False, jobs=bad)
    assert not (tmp_path / "x").exists()


# -- a real kill -9 of a running `landscope run` ------------------------------------------


def _start(out: Path, marker: Path, seeds: int) -> subprocess.Popen:
    env = {**os.environ, "TOY_SLEEP": "0.15", "TOY_WIDTH": "400", "TOY_MARKER": str(marker)}
    cmd = [
        sys.executable,
        str(TOY_SCRIPT),
        "run",
        "toy",
        "--set",
        "a=1..4",
        "--seeds",
        str(seeds),
        "--out",
        str(out),
        "--quiet",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when(proc: subprocess.Popen, marker: Path, predicate, delay: float = 0.0) -> None:
    """SIGKILL ``proc`` ``delay`` seconds after the marker file's lines satisfy ``predicate``."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        lines = marker.read_text().splitlines() if marker.exists() else []
        if predicate(lines):
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
            assert proc.returncode == -signal.SIGKILL
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed: {proc.communicate()}")
        time.sleep(0.002)
    proc.kill()
    proc.communicate()
    pytest.fail("the run never reached the point where it was to be killed")


def _check_cells_whole(out: Path, seeds: int) -> dict[str, int]:
    """Every stored cell has exactly seeds 0..seeds-1, each once, with the right values."""
    rows = stored(out)
    per_cell: dict[str, list[int]] = {}
    for r in rows:
        per_cell.setdefault(r["config_hash"], []).append(r["seed"])
        assert r["value"] == expected_value(r, r["seed"])
    for h, got in per_cell.items():
        assert sorted(got) == list(range(seeds)), f"cell {h} is partial or duplicated"
    return {h: len(got) for h, got in per_cell.items()}


@pytest.mark.slow
def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out, marker, seeds = tmp_path / "out", tmp_path / "marker", 300
    n_cells = 8  # a = 1..4 times b = x, y

    # 1. Kill while the second cell's rows are being written: measured here, its 300 rows
    #    with a 400-double array commit ~150 ms after run_cell returns, so a kill 80 ms
    #    after it lands inside the transaction (either outcome must leave whole cells only).
    proc = _start(out, marker, seeds)
    _kill_when(proc, marker, lambda lines: sum(x.startswith("end") for x in lines) >= 2, 0.08)
    first = _check_cells_whole(out, seeds)
    assert 1 <= len(first) <= 2

    # 2. Resume to the end: only the missing cells run, and every cell is whole.
    marker.unlink()
    proc = _start(out, marker, seeds)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"ran {n_cells - len(first)} of {n_cells} cells ({len(first)} already done)" in stdout
    final = _check_cells_whole(out, seeds)
    assert len(final) == n_cells
    assert len(stored(out)) == n_cells * seeds
    assert (out / STORE_FILE).is_file()
