"""path_figure: the loss along a Path, drawn to PNG and SVG."""

from __future__ import annotations

import torch

from landscope.connect import dynamic_string, linear_path
from landscope.plot import path_figure, path_spec
from landscope.problems import DoubleWell


def test_linear_and_string_paths_are_drawn(tmp_path) -> None:
    prob = DoubleWell(dim=1)
    a, b = torch.tensor([-1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    lin = linear_path(prob, a, b, level=1.5)
    paths = path_figure(lin, tmp_path / "line")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    svg = paths[1].read_text()
    assert "level 1.5" in svg and "linear (connected)" in svg
    res = dynamic_string(prob, a, b, 0.5)  # below the barrier: not connected
    (png, _) = path_figure(res.path, tmp_path / "string", title="double well")
    assert png.stat().st_size > 0


def test_path_spec_marks_and_title() -> None:
    prob = DoubleWell(dim=1)
    a, b = torch.tensor([-1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    lin = linear_path(prob, a, b, level=1.5)
    spec = path_spec(lin, "line")
    (panel,) = spec.panels
    curve, beads, level = panel.marks
    assert curve.label == "linear (connected)" and len(curve.x) == len(lin.t)
    assert beads.linestyle == "None" and beads.marker == "o"
    assert level.y == 1.5 and level.label == "level 1.5"
    assert spec.title.startswith("linear: barrier") and spec.title_size == 9
    assert path_spec(lin, "line", title="mine").title == "mine"
