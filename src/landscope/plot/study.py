"""A study's figures, drawn from the results store.

The figures of a study whose last run stopped before all its cells were stored (killed,
interrupted, or still running) say so, in red under the panels: a curve with missing
points must not pass for the whole study.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..sweep import show_study
from ..sweep.runlock import read_plan, run_in_progress
from .render import render

if TYPE_CHECKING:
    from ..studies import Study

__all__ = ["incomplete_note", "plot_study"]


def incomplete_note(study_name: str, out_dir: str | Path) -> str | None:
    """The warning for figures of ``study_name`` if the folder's last run left cells unstored.

    Reads the last run's plan in ``out_dir`` (``landscope.sweep.runlock``). A plan of
    another study says nothing about this one; a plan that says "running" while no process
    holds the writer lock is a killed run.

    Returns:
        ``"incomplete: 7 of 15 cells stored (run interrupted)"`` (or ``(run in progress)``
        while a run holds the lock), or None when the last run of this study stored every
        cell or there is no plan of this study.
    """
    plan = read_plan(out_dir)
    if plan is None or plan.get("study") != study_name:
        return None
    cells = plan["cells"]
    done = sum(bool(isinstance(c, dict) and c.get("done")) for c in cells)
    if done == len(cells):
        return None
    running = plan.get("state") == "running" and run_in_progress(out_dir)
    why = "run in progress" if running else "run interrupted"
    return f"incomplete: {done} of {len(cells)} cells stored ({why})"


def plot_study(study: Study, out_dir: str | Path) -> list[Path]:
    """Draw the study's figure specs, from its stored summary, into ``out_dir/figures``.

    If the folder's last run of the study left cells unstored, every figure carries
    ``incomplete_note``'s warning.

    Returns:
        The paths of the files written (PNG and SVG of each figure).

    Raises:
        ValueError: if the store holds no results of this study.
    """
    summary = show_study(study, out_dir)
    fig_dir = Path(out_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    note = incomplete_note(study.name, out_dir)
    specs = study.figures(summary)
    return [path for spec in specs for path in render(spec, fig_dir, note=note)]
