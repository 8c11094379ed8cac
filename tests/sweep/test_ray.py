"""The Ray executor: cells as Ray tasks on a local Ray with 2 CPUs, this process the only
writer; the same table as the local executor on the same seeds, and resuming."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from landscope.cli import main
from landscope.studies import get_study
from landscope.sweep import ResultStore, run_study, show_study

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")

STUDY = "spurious-relu"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    yield
    ray.shutdown()


def _runs(out: Path) -> dict[tuple, dict]:
    with ResultStore(out, read_only=True) as store:
        return {(r["k"], r["extra"], r["seed"]): r for r in store.rows("spurious_relu")}


def _table(out: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_s"}
            for row in show_study(get_study(STUDY), out)]  # fmt: skip


@pytest.mark.slow
def test_ray_gives_the_local_table_and_resumes(tmp_path: Path, local_ray) -> None:
    study = get_study(STUDY)
    local, remote = tmp_path / "local", tmp_path / "ray"
    run_study(study, {"k": [6, 7]}, 50, local, progress=False)
    # resume: the k = 6 cells first, then the whole grid computes only k = 7
    first = run_study(study, {"k": [6]}, 50, remote, progress=False, executor="ray")
    assert first.cells_run == 2
    again = run_study(study, {"k": [6, 7]}, 50, remote, progress=False, executor="ray")
    assert (again.cells_run, again.cells_skipped, again.rows_written) == (2, 2, 100)
    assert _table(remote) == _table(local)  # the same table, every column but wall time
    a, b = _runs(local), _runs(remote)
    assert a.keys() == b.keys() and len(a) == 200
    for key, row in a.items():  # the same run, seed by seed (one torch thread per task)
        assert (row["verdict"], row["steps"]) == (b[key]["verdict"], b[key]["steps"]), key
        assert row["loss"] == pytest.approx(b[key]["loss"], rel=1e-9, abs=1e-12)


def test_ray_options_are_checked(tmp_path: Path, capsys) -> None:
    study = get_study(STUDY)
    with pytest.raises(ValueError, match="--jobs is for the local executor"):
        run_study(study, {"k": [3]}, 2, tmp_path, executor="ray", jobs=2)
    with pytest.raises(ValueError, match="--address is for --executor ray"):
        run_study(study, {"k": [3]}, 2, tmp_path, address="auto")
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        run_study(study, {"k": [3]}, 2, tmp_path, executor="dask")
    assert main(["run", STUDY, "--executor", "ray", "--jobs", "2", "--out", str(tmp_path)]) == 2
    assert "--jobs is for the local executor" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was created
