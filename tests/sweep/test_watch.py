"""Watching a run: reading the store while it writes, `status`, the writer lock, log lines
without a terminal, and a damaged store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toy_study import make_toy_study

from landscope.cli import main
from landscope.studies import get_study
from landscope.sweep import STORE_FILE, ResultStore, run_study
from landscope.sweep.runlock import PLAN_FILE, RunLock, read_plan, run_in_progress
from landscope.sweep.status import folder_status

STUDY = "spurious-relu"


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "landscope.cli", *argv], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip


def _verdicts(out: Path) -> dict[tuple[int, int], str]:
    with ResultStore(out, read_only=True) as store:
        return {(r["k"], r["seed"]): r["verdict"] for r in store.rows("spurious_relu")}


@pytest.mark.slow
def test_show_status_and_report_read_a_run_while_it_writes(tmp_path: Path) -> None:
    # A real run in a subprocess; `show`, `status` and `report` read the store before it
    # ends (the run waits for them when it commits a cell, and they for it), and
    # the finished table equals an uninterrupted run's.
    out = tmp_path / "live"
    argv = ["run", STUDY, "--set", "k=6..16", "--set", "extra=0", "--seeds", "300"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen([sys.executable, "-m", "landscope.cli", *argv, "--out", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / STORE_FILE).is_file():
            time.sleep(0.05)
        shown = _cli("show", STUDY, "--out", str(out), "--format", "json")
        status = _cli("status", STUDY, "--out", str(out), "--format", "json")
        report = _cli("report", STUDY, "--out", str(out))
        still_running = writer.poll() is None
        assert report.returncode == 0, report.stderr
        assert (out / "report" / "index.html").is_file()
        assert shown.returncode == 0, shown.stderr
        assert status.returncode == 0, status.stderr
        cells = json.loads(shown.stdout)
        assert 1 <= len(cells) <= 11
        st = json.loads(status.stdout)
        assert st["studies"][STUDY]["runs"] >= 300
        assert st["run"]["study"] == STUDY and st["run"]["cells_done"] >= 1
        if still_running:  # the reads happened while the run was writing
            assert len(cells) < 11 or st["run"]["state"] == "running"
        assert still_running, "the run ended before it could be watched; nothing was tested"
    finally:
        _, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err
    # no terminal: one log line per finished cell
    lines = [ln for ln in err.splitlines() if ln.startswith(f"{STUDY}: cell ")]
    assert len(lines) == 11 and lines[-1].startswith(f"{STUDY}: cell 11/11 (k=16): 300 runs in")
    done = folder_status(out, registry={STUDY: get_study(STUDY)})
    assert done["run"]["state"] == "finished" and done["run"]["cells_pending"] == 0
    ref = tmp_path / "ref"
    run_study(get_study(STUDY), {"k": list(range(6, 17)), "extra": [0]}, 300, ref, progress=False)
    assert _verdicts(out) == _verdicts(ref)


def test_a_second_writer_gets_one_sentence(tmp_path: Path, capsys) -> None:
    with RunLock(tmp_path, "toy", [("a=1", 2)]):
        assert run_in_progress(tmp_path)
        with pytest.raises(ValueError, match="another landscope run is writing to") as err:
            run_study(make_toy_study(), {"a": [1]}, 2, tmp_path, progress=False)
        assert f"pid {os.getpid()}" in str(err.value) and "\n" not in str(err.value)
        code = main(["run", STUDY, "--set", "k=3", "--seeds", "2", "--out", str(tmp_path)])
        assert code == 2
        assert "another landscope run is writing" in capsys.readouterr().err
    assert not run_in_progress(tmp_path)
    assert not (tmp_path / STORE_FILE).exists()  # nothing was computed or stored
    assert read_plan(tmp_path)["state"] == "finished"


def test_status_tells_finished_interrupted_and_time_left(tmp_path: Path, capsys) -> None:
    reg = {STUDY: get_study(STUDY)}
    with pytest.raises(ValueError, match="there are no results in"):
        folder_status(tmp_path, registry=reg)
    assert main(["status", "--out", str(tmp_path)]) == 2
    run_study(get_study(STUDY), {"k": [3, 4], "extra": [0]}, 5, tmp_path, progress=False)
    st = folder_status(tmp_path, registry=reg)
    assert st["studies"] == {STUDY: {"cells": 2, "runs": 10}}
    assert st["run"]["state"] == "finished" and st["run"]["cells_done"] == 2
    capsys.readouterr()
    assert main(["status", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "2/2 cells done" in text and "finished" in text
    # a plan that says "running" with nobody holding the lock: the run was killed
    plan = json.loads((tmp_path / PLAN_FILE).read_text())
    plan["state"] = "running"
    plan["cells"][1]["done"] = False
    (tmp_path / PLAN_FILE).write_text(json.dumps(plan))
    st = folder_status(tmp_path, registry=reg)
    assert st["run"]["state"] == "interrupted" and st["run"]["cells_pending"] == 1
    assert st["run"]["pending"] == ["k=4"]
    # while a run holds the lock: running, with a time left from the rate so far
    with RunLock(tmp_path, STUDY, [("k=3", 10), ("k=4", 30)]) as lock:
        lock.cell_done(0, 1.0)
        st = folder_status(tmp_path, registry=reg)
        run = st["run"]
        assert run["state"] == "running" and run["runs_to_compute"] == 30
        assert run["time_left_s"] == pytest.approx(run["elapsed_s"] * 3, rel=0.5)
    assert main(["status", "nonexistent-study", "--out", str(tmp_path)]) == 2


def test_a_damaged_store_is_one_sentence_and_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / STORE_FILE).write_bytes(b"\x00garbage, not a database" * 64)
    cases = (["show", STUDY], ["status"], ["report"], ["export", STUDY],
             ["run", STUDY, "--set", "k=3", "--seeds", "2"])  # fmt: skip
    for argv in cases:
        assert main([*argv, "--out", str(tmp_path)]) == 2, argv
        err = capsys.readouterr().err
        assert "may be damaged" in err and err.count("\n") == 1, err
