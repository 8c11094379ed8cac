"""plot_study: a study's figures from the store, marked when the last run left cells out."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from landscope.plot import plot_study
from landscope.plot.study import incomplete_note
from landscope.studies import Grid, Param, Results, RunContext, Study
from landscope.studies.figures import line_chart
from landscope.sweep import run_study
from landscope.sweep.runlock import PLAN_FILE, RunLock

# the module: ``landscope.plot.render`` as an attribute is the function it re-exports
render_module = importlib.import_module("landscope.plot.render")


def _run_cell(cfg: dict, seeds: Sequence[int], ctx: RunContext) -> list[dict]:
    return [{"seed": s, "value": cfg["a"] + s / 10} for s in seeds]


def _summarize(rows: list[dict]) -> list[dict]:
    cells: dict[int, list[float]] = {}
    for r in rows:
        cells.setdefault(r["a"], []).append(r["value"])
    return [{"a": a, "mean": sum(v) / len(v), "kind": "all"} for a, v in sorted(cells.items())]


def _figures(summary: list[dict]) -> list:
    return [line_chart(summary, "a", "mean", "kind", "tiny", percent=False, title="tiny")]


TINY = Study(
    name="tiny",
    doc="A closed-form study for the plot tests.",
    grid=Grid((Param("a", int, (1, 2, 3), "an integer"),), seeds=2),
    results=Results(_summarize, table=(("a", "a", "d"),), figures=_figures),
    columns={"value": "DOUBLE"},
    run_cell=_run_cell,
)


def _set_plan(out: Path, **changes) -> None:
    """Rewrite the folder's plan: top-level keys, and ``undone`` cell indices."""
    plan = json.loads((out / PLAN_FILE).read_text())
    for i in changes.pop("undone", ()):
        plan["cells"][i]["done"] = False
    plan.update(changes)
    (out / PLAN_FILE).write_text(json.dumps(plan))


def _drawn_texts(monkeypatch: pytest.MonkeyPatch, out: Path) -> list[list[str]]:
    """plot_study(TINY, out), with every text of every figure it draws."""
    figures: list[Figure] = []
    inner = render_module.draw

    def draw(*args, **kwargs) -> Figure:
        figures.append(inner(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(render_module, "draw", draw)
    paths = plot_study(TINY, out)
    assert [p.name for p in paths] == ["tiny.png", "tiny.svg"]
    return [[t.get_text() for t in fig.findobj(Text)] for fig in figures]


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    run_study(TINY, None, 2, tmp_path, progress=False)
    return tmp_path


def test_a_finished_study_has_no_mark(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert incomplete_note("tiny", stored) is None
    (texts,) = _drawn_texts(monkeypatch, stored)
    assert "tiny" in texts and not any("incomplete" in t for t in texts)


def test_an_interrupted_study_is_marked(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_plan(stored, state="interrupted", undone=[1, 2])
    note = "incomplete: 1 of 3 cells stored (run interrupted)"
    assert incomplete_note("tiny", stored) == note
    (texts,) = _drawn_texts(monkeypatch, stored)
    assert note in texts
    # the plan of another study says nothing about this one
    assert incomplete_note("other", stored) is None


def test_a_killed_run_is_interrupted_and_a_live_one_in_progress(stored: Path) -> None:
    # "running" with nobody holding the writer lock: the run was killed (kill -9)
    _set_plan(stored, state="running", undone=[2])
    assert incomplete_note("tiny", stored) == "incomplete: 2 of 3 cells stored (run interrupted)"
    # a run holds the lock and has stored one of its two cells so far
    with RunLock(stored, "tiny", [("a=1", 2), ("a=2", 2)]) as lock:
        lock.cell_done(0, 0.1)
        assert incomplete_note("tiny", stored) == (
            "incomplete: 1 of 2 cells stored (run in progress)"
        )
    assert incomplete_note("tiny", stored) is not None  # it ended without its second cell
    (stored / PLAN_FILE).unlink()
    assert incomplete_note("tiny", stored) is None  # no plan: nothing known to be missing
