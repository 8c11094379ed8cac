"""render: every kind of mark and panel option drawn to PNG and SVG, reproducibly."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.text import Text as Text_

from landscope.plot import draw, render
from landscope.studies.figures import (
    Band,
    Bars,
    FigureSpec,
    HLine,
    Line,
    Panel,
    Rug,
    Scatter,
    Stems,
    Text,
    grid_chart,
    line_chart,
)

LINES = [
    {"k": k, "extra": e, "spurious_min": min(1.0, k / 20 / (1 + e))}
    for k in (6, 10, 20)
    for e in (0, 1, 2)
]
GRID = [
    {"setup": s, "variant": v, "h": h, "frac": (h / 4) if v == "a" else 1.0, "err": 10.0**-h}
    for s in ("x", "y")
    for v in ("a", "b", "c")
    for h in (1, 2, 3, 4)
]
X = (1.0, 2.0, 4.0, 8.0)

EVERY_MARK = FigureSpec(
    "every.mark",
    (
        Panel(
            (
                Line(X, (0.1, 0.2, 0.4, 0.8), "line", marker="o", markersize=3, linewidth=2),
                Line(X, (0.2, 0.3, 0.5, float("nan")), "dashed", color="k", linestyle="--"),
                Scatter(X, (0.5, 0.6, 0.7, 0.8), size=(4.0, 9.0, 16.0, 25.0), alpha=0.5,
                        label="scatter"),
                HLine(0.5, color="gray", linestyle=":", linewidth=0.8, label="half"),
                Text(2.0, 0.9, "a note", fontsize=8),
            ),
            title="lines", title_size=9, xlabel="x", ylabel="fraction", percent=True,
            xscale="log2", legend=True, legend_size=7,
        ),
        Panel(
            (
                Bars((0.0, 1.0), (3.0, 4.0), color="C1", hatch="//", edgecolor="black",
                     linewidth=0.5, label="low"),
                Bars((0.0, 1.0), (1.0, 2.0), bottom=(3.0, 4.0), width=0.5, label="high"),
            ),
            title="bars", xticks=((0.0, "first\nbar"), (1.0, "second")), xtick_size=8,
            grid="y", legend=True,
        ),
        Panel(
            (
                Band(X, (0.5, 0.5, 0.5, 0.5), (2.0, 3.0, 4.0, 5.0), label="band"),
                Stems((1.0, 3.0), (-1.0, 2.0), color="C3", markersize=3, label="stems"),
                Rug((1.5, 2.5), label="rug"),
            ),
            title="spectra", yscale="log", ylim=(0.1, 10.0), invert_x=True, integer_x=True,
            grid="both", legend=True,
        ),
    ),
    title="Every mark",
    size=(12.0, 4.0),
)  # fmt: skip


def test_every_mark_is_drawn(tmp_path: Path) -> None:
    paths = render(EVERY_MARK, tmp_path / "new" / "folder")
    assert paths == [tmp_path / "new" / "folder" / f"every.mark.{e}" for e in ("png", "svg")]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    ET.fromstring(svg)  # well-formed
    for text in ("Every mark", "lines", "bars", "spectra", "a note", "first", "100%", "half",
                 "scatter", "band", "stems", "rug", "fraction"):  # fmt: skip
        assert f"<!-- {text}" in svg, text
    fig = draw(EVERY_MARK)
    lines, bars, spectra = fig.axes
    assert fig.get_suptitle() == "Every mark"  # over three panels
    assert lines.get_xscale() == "log" and lines.get_ylim() == (-3.0, 103.0)
    assert spectra.xaxis_inverted() and spectra.get_ylim() == (0.1, 10.0)
    assert [t.get_text() for t in bars.get_xticklabels()] == ["first\nbar", "second"]


def test_a_single_panel_takes_the_figure_title() -> None:
    one = FigureSpec("f", (Panel((Line(X, X),)),), title="T", title_size=9)
    (ax,) = draw(one).axes
    assert ax.get_title() == "T" and ax.title.get_fontsize() == 9
    titled = FigureSpec("f", (Panel((Line(X, X),), title="panel"),), title="T")
    fig = draw(titled)
    assert fig.axes[0].get_title() == "panel" and fig.get_suptitle() == "T"
    # no labelled mark: no legend, and no warning about an empty one
    assert draw(FigureSpec("f", (Panel((Line(X, X),), legend=True),))).axes[0].get_legend() is None


def test_line_chart_writes_png_and_svg(tmp_path: Path) -> None:
    spec = line_chart(LINES, "k", "spurious_min", "extra", "spurious.k6-20", xlabel="k",
                      ylabel="spurious minima", title="Spurious minima",
                      group_label="n - k")  # fmt: skip
    paths = render(spec, tmp_path / "figs")  # a dot in the stem survives
    assert paths == [
        tmp_path / "figs" / "spurious.k6-20.png",
        tmp_path / "figs" / "spurious.k6-20.svg",
    ]
    svg = paths[1].read_text()
    for text in ("n - k = 0", "n - k = 1", "n - k = 2", "Spurious minima", "100%"):
        assert text in svg
    rows = [*LINES, {"k": 12, "extra": 0, "spurious_min": None}]
    plain = render(line_chart(rows, "k", "spurious_min", "extra", "f", percent=False), tmp_path)
    assert "100%" not in plain[1].read_text()


def test_grid_chart_writes_png_and_svg(tmp_path: Path) -> None:
    spec = grid_chart(GRID, row="setup", col="variant", x="h", ys=[("frac", "f")], stem="grid.v1")
    paths = render(spec, tmp_path / "g")
    assert [p.name for p in paths] == ["grid.v1.png", "grid.v1.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    assert "setup = y" in svg and "variant = c" in svg  # one panel row/column per value


@pytest.mark.parametrize(
    "spec",
    [
        EVERY_MARK,
        line_chart(LINES, "k", "spurious_min", "extra", "lines"),
        grid_chart(GRID, row="setup", col="variant", x="h", ys=[("err", "e"), ("frac", "f")],
                   stem="grid", percent=False, logy=True),
    ],
    ids=["marks", "lines", "grid"],
)  # fmt: skip
def test_redrawing_gives_the_same_svg(tmp_path: Path, spec: FigureSpec) -> None:
    a = render(spec, tmp_path / "a")[1].read_bytes()
    b = render(spec, tmp_path / "b")[1].read_bytes()
    assert a == b


def test_render_takes_a_spec(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="render takes a FigureSpec; got dict"):
        render({"stem": "x"}, tmp_path)  # type: ignore[arg-type]
    odd = FigureSpec("f", (Panel(("not a mark",)),))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot draw a str"):
        render(odd, tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_outside_legend_covers_no_mark(tmp_path: Path) -> None:
    bars = Bars((0.0, 1.0), (1.0, 1.0), label="full height")  # bars up to the top edge
    for outside in (False, True):
        fig = draw(FigureSpec("f", (Panel((bars,), legend=True, legend_outside=outside),)))
        fig.draw_without_rendering()  # runs the constrained layout
        (ax,) = fig.axes
        legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
        # inside, the legend overlaps the axes (and a bar); outside, it is right of them
        assert bool(legend.x0 >= frame.x1) == outside
        assert bool(legend.overlaps(frame)) != outside
        assert ax.get_legend().get_texts()[0].get_text() == "full height"
    render(FigureSpec("f", (Panel((bars,), legend=True, legend_outside=True),)), tmp_path)


def test_a_note_is_written_under_the_panels(tmp_path: Path) -> None:
    spec = FigureSpec("f", (Panel((Line(X, X),)),), title="T")
    note = "incomplete: 2 of 3 cells stored (run interrupted)"
    texts = [t.get_text() for t in draw(spec, note=note).findobj(Text_)]
    assert note in texts and "T" in texts
    assert not any("incomplete" in t.get_text() for t in draw(spec).findobj(Text_))
    assert render(spec, tmp_path, note=note)[0].stat().st_size > 0
