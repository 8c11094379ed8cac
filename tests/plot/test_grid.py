"""Grids of line panels: files written, identical on redraw, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from landscope.plot import grid_figure

SUMMARY = [
    {"setup": s, "variant": v, "h": h, "frac": (h / 4) if v == "a" else 1.0, "err": 10.0**-h}
    for s in ("x", "y")
    for v in ("a", "b", "c")
    for h in (1, 2, 3, 4)
]


def test_writes_png_and_svg(tmp_path: Path) -> None:
    paths = grid_figure(SUMMARY, row="setup", col="variant", x="h", ys=[("frac", "f")],
                        path_stem=tmp_path / "g" / "grid.v1")  # fmt: skip
    assert [p.name for p in paths] == ["grid.v1.png", "grid.v1.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    assert "setup = y" in svg and "variant = c" in svg  # one panel row/column per value


def test_redraw_gives_the_same_svg_and_log_axis(tmp_path: Path) -> None:
    kw = {"row": "setup", "col": "variant", "x": "h", "ys": [("err", "e"), ("frac", "f")],
          "percent": False, "logy": True}  # fmt: skip
    a = grid_figure(SUMMARY, path_stem=tmp_path / "a", **kw)[1].read_text()
    b = grid_figure(SUMMARY, path_stem=tmp_path / "b", **kw)[1].read_text()
    assert a == b


@pytest.mark.parametrize(
    ("summary", "match"),
    [([], "nothing to plot"), ([{"setup": "x", "variant": "a", "h": 1}], "no key 'frac'")],
)
def test_bad_summary(tmp_path: Path, summary: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grid_figure(summary, row="setup", col="variant", x="h", ys=[("frac", "f")],
                    path_stem=tmp_path / "g")  # fmt: skip
