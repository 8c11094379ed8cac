"""``landscope status --out DIR [STUDY]``: what a folder holds, and how far a run has got.

For every study with stored runs (or the one asked for): cells and runs stored. For the
folder's last ``landscope run`` (its plan, ``runlock.PLAN_FILE``): cells done and pending,
runs still to compute, whether it is running, finished or was interrupted (its writer lock
is free but its plan never said it finished), the time elapsed and a rough estimate of the
time left: the pending runs at the rate the run has kept so far (cells differ in cost, so
the estimate is as good as the cells done are like those pending).

Reads the store read-only and only for a moment, so it works while a run writes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..studies import Study
from .runlock import read_plan, run_in_progress
from .store import STORE_FILE, ResultStore, _ident

__all__ = ["folder_status", "print_status"]


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def folder_status(
    out_dir: str | Path, study: Study | None = None, *, registry: Mapping[str, Study]
) -> dict[str, Any]:
    """The folder's state as a dict: ``studies`` (name -> cells, runs stored) and ``run``
    (the last run's progress, or None).

    Raises:
        ValueError: if the folder holds neither a store nor a run plan, or the store is
            damaged, or ``study`` has nothing stored and is not the last run's study.
    """
    out = Path(out_dir)
    plan = read_plan(out)
    store_path = out / STORE_FILE
    if not store_path.is_file() and plan is None:
        raise ValueError(
            f"there are no results in {str(out)!r}; start a study with "
            f"`landscope run STUDY --out {out}`."
        )
    stored: dict[str, dict[str, int]] = {}
    if store_path.is_file():
        chosen = [study] if study is not None else list(registry.values())
        with ResultStore(out, read_only=True) as store:
            for s in chosen:
                if not store.has_table(s.table_name):
                    continue
                cells, runs = store.con.execute(
                    f"SELECT count(DISTINCT config_hash), count(*) FROM {_ident(s.table_name)}"
                ).fetchone()
                if runs:
                    stored[s.name] = {"cells": int(cells), "runs": int(runs)}
    run = None
    if plan is not None and (study is None or plan.get("study") == study.name):
        cells = plan["cells"]
        done = [c for c in cells if c.get("done")]
        pending = [c for c in cells if not c.get("done")]
        running = run_in_progress(out)
        state = "running" if running else plan.get("state", "interrupted")
        if state == "running" and not running:
            state = "interrupted"
        started = float(plan.get("started", time.time()))
        end = time.time() if state == "running" else float(plan.get("updated", started))
        elapsed = end - started
        runs_done = sum(int(c.get("runs", 0)) for c in done)
        runs_left = sum(int(c.get("runs", 0)) for c in pending)
        left = None
        if state == "running" and runs_left == 0:
            left = 0.0
        elif state == "running" and runs_done > 0:
            left = elapsed / runs_done * runs_left
        run = {
            "study": plan.get("study"),
            "state": state,
            "pid": plan.get("pid"),
            "cells_done": len(done),
            "cells_pending": len(pending),
            "runs_to_compute": runs_left,
            "elapsed_s": elapsed,
            "time_left_s": left,
            "pending": [c.get("label") for c in pending],
        }
    if study is not None and study.name not in stored and run is None:
        raise ValueError(
            f"no results for study {study.name!r} in {str(out)!r}; "
            f"run it first with `landscope run {study.name} --out {out}`."
        )
    return {"out": str(out), "studies": stored, "run": run}


def print_status(
    out_dir: str | Path,
    study: Study | None = None,
    *,
    registry: Mapping[str, Study],
    fmt: str = "table",
) -> int:
    """Print ``folder_status`` as tables (or JSON); returns the exit code 0."""
    st = folder_status(out_dir, study, registry=registry)
    if fmt == "json":
        print(json.dumps(st, indent=2))
        return 0
    console = Console()
    table = Table(title=f"stored in {st['out']}")
    for header in ("study", "cells", "runs"):
        table.add_column(header, justify="left" if header == "study" else "right")
    for name, got in st["studies"].items():
        table.add_row(name, str(got["cells"]), str(got["runs"]))
    console.print(table)
    run = st["run"]
    if run is not None:
        total = run["cells_done"] + run["cells_pending"]
        console.print(
            f"last run: {run['study']}, {run['state']} (pid {run['pid']}): "
            f"{run['cells_done']}/{total} cells done, {run['cells_pending']} pending "
            f"({run['runs_to_compute']} runs), {_duration(run['elapsed_s'])} elapsed"
            + (
                f", about {_duration(run['time_left_s'])} left" if run["state"] == "running" else ""
            )  # fmt: skip
        )
        if run["state"] == "interrupted" and run["cells_pending"]:
            console.print("the same `landscope run` command resumes it: finished cells are kept.")
    return 0
