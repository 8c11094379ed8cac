"""One writer per output folder, and what it is doing, for ``landscope status``.

``landscope run`` holds an exclusive lock on ``OUT/.landscope-run.lock`` (``fcntl.flock``:
the kernel releases it when the process ends, ``kill -9`` included) for as long as it
runs, so a second run writing the same folder at once is refused with one sentence
instead of meeting the first inside the store. Beside it the run keeps a small plan,
``OUT/.landscope-run.json`` (replaced atomically after every cell): the study, its cells
with their runs, which are done, when it started. ``landscope status`` reads the plan and
tries the lock to tell a running study from a finished or an interrupted one.

This module knows nothing of torch or of the studies (see DESIGN.md, "Rooms").
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LOCK_FILE", "PLAN_FILE", "RunLock", "read_plan", "run_in_progress"]

LOCK_FILE = ".landscope-run.lock"
PLAN_FILE = ".landscope-run.json"


def _plan_cells(cells: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The plan's entries for (label, runs to compute) cells, none done yet."""
    return [{"label": label, "runs": int(runs), "done": False, "wall_s": None}
            for label, runs in cells]  # fmt: skip


class RunLock:
    """The output folder's writer lock and plan, as a context manager.

    Args:
        out_dir: the output folder (must exist and be writable).
        study: the study's name.
        cells: (label, runs to compute) per cell, in the order they will run.

    Raises:
        ValueError: if another process holds the lock (one sentence, with its pid).
    """

    def __init__(self, out_dir: str | Path, study: str, cells: Sequence[tuple[str, int]]) -> None:
        self.out_dir = Path(out_dir)
        self._fd: int | None = None
        self._plan: dict[str, Any] = {
            "study": study,
            "pid": os.getpid(),
            "started": time.time(),
            "updated": time.time(),
            "state": "running",
            "cells": _plan_cells(cells),
        }

    def __enter__(self) -> RunLock:
        path = self.out_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            other = read_plan(self.out_dir) or {}
            who = f" (pid {other['pid']}, study {other.get('study')})" if "pid" in other else ""
            raise ValueError(
                f"another landscope run is writing to {str(self.out_dir)!r}{who}; wait for it "
                "to finish (`landscope status` shows its progress) or choose another --out."
            ) from None
        self._fd = fd
        self._write()
        return self

    def set_cells(self, cells: Sequence[tuple[str, int]]) -> None:
        """Replace the plan's cells: (label, runs to compute) in the order they will run."""
        self._plan["cells"] = _plan_cells(cells)
        self._plan["updated"] = time.time()
        self._write()

    def cell_done(self, index: int, wall_s: float) -> None:
        """Mark cell ``index`` (in the order given) as stored."""
        cell = self._plan["cells"][index]
        cell["done"], cell["wall_s"] = True, float(wall_s)
        self._plan["updated"] = time.time()
        self._write()

    def __exit__(self, exc_type, exc, tb) -> None:
        self._plan["state"] = "finished" if exc_type is None else "interrupted"
        self._plan["updated"] = time.time()
        try:
            self._write()
        finally:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    def _write(self) -> None:
        """Replace the plan file atomically (a reader sees the old or the new one)."""
        fd, tmp = tempfile.mkstemp(dir=self.out_dir, prefix=".landscope-run-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(self._plan, fh)
            os.replace(tmp, self.out_dir / PLAN_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_plan(out_dir: str | Path) -> Mapping[str, Any] | None:
    """The last run's plan in ``out_dir`` (None if there is none or it cannot be read)."""
    try:
        plan = json.loads((Path(out_dir) / PLAN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) and isinstance(plan.get("cells"), list) else None


def run_in_progress(out_dir: str | Path) -> bool:
    """Whether a ``landscope run`` holds the folder's writer lock now."""
    path = Path(out_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
