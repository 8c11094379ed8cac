"""Figure specs: what a figure shows, as frozen data; ``landscope.plot`` draws them.

A study's ``figures(summary)`` returns ``FigureSpec``s and draws nothing. A spec is a grid
of ``Panel``s; a panel is a sequence of marks (``Line``, ``Scatter``, ``Bars``, ``HLine``,
``Text``; ``Stems``, ``Band`` and ``Rug`` for spectra) and its axes: labels, scales, ticks,
legend. The data are in the spec (tuples of floats, None read as NaN, drawn as a gap), so
drawing needs nothing else, and a spec can be compared, printed or stored.

The vocabulary lives here, in ``studies/``, because studies are its main producers and
may not import ``plot/`` (a higher room, and matplotlib). ``plot/`` reads it.

``line_chart`` and ``grid_chart`` build the two common kinds of figure from a summary by
its keys: lines per group, and a grid of such panels by two keys. Where the summary has a
key's 95 % interval (``<key>_lo`` and ``<key>_hi``, as every fraction of a summary does),
they draw it as a band around the key's line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

__all__ = [
    "Band",
    "band_chart",
    "Bars",
    "FigureSpec",
    "HLine",
    "Line",
    "Mark",
    "Panel",
    "Rug",
    "Scale",
    "Scatter",
    "Stems",
    "Text",
    "floats",
    "grid_chart",
    "line_chart",
]

# "log2": a log axis with ticks at powers of two (widths m = 64, 128, ...)
Scale = Literal["linear", "log", "log2"]


def floats(values: Iterable[Any]) -> tuple[float, ...]:
    """A tuple of floats; None (a cell with no value) becomes NaN, which is drawn as a gap.

    Raises:
        ValueError: for a value that is not a number.
    """
    out = []
    for v in values:
        try:
            out.append(math.nan if v is None else float(v))
        except (TypeError, ValueError):
            raise ValueError(f"cannot plot {v!r}: values must be numbers.") from None
    return tuple(out)


def _same_length(kind: str, **arrays: Sequence) -> None:
    sizes = {name: len(a) for name, a in arrays.items() if not isinstance(a, (int, float))}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"a {kind} needs arrays of one length; got lengths {sizes}.")


@dataclass(frozen=True)
class Line:
    """A polyline through (x, y), with markers if ``marker`` is set.

    ``linestyle="none"`` draws the markers only. None styles take matplotlib's defaults
    (colours from the cycle C0, C1, ...).
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    label: str | None = None
    color: str | None = None
    marker: str | None = None
    linestyle: str = "-"
    markersize: float | None = None
    linewidth: float | None = None

    def __post_init__(self) -> None:
        _same_length("line", x=self.x, y=self.y)


@dataclass(frozen=True)
class Scatter:
    """Points at (x, y); ``size`` is the marker area in points^2, one or one per point."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    size: float | tuple[float, ...] | None = None
    color: str | None = None
    alpha: float | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        _same_length("scatter", x=self.x, y=self.y, size=self.size or 0.0)


@dataclass(frozen=True)
class Bars:
    """Vertical bars centred at x, up by ``height`` from ``bottom`` (one or one per bar; 0)."""

    x: tuple[float, ...]
    height: tuple[float, ...]
    bottom: float | tuple[float, ...] | None = None
    width: float = 0.8
    color: str | None = None
    hatch: str | None = None
    edgecolor: str | None = None
    linewidth: float | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        bottom = 0.0 if self.bottom is None else self.bottom
        _same_length("bar chart", x=self.x, height=self.height, bottom=bottom)


@dataclass(frozen=True)
class HLine:
    """A horizontal line across the panel at y (a threshold, zero, a level)."""

    y: float
    color: str | None = None
    linestyle: str | None = None
    linewidth: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class Text:
    """A note at (x, y) in data coordinates, e.g. over a bar."""

    x: float
    y: float
    text: str
    fontsize: float | None = None
    ha: str = "center"
    va: str = "bottom"


@dataclass(frozen=True)
class Stems:
    """Stems from zero up (or down) to y at x, with round heads."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    color: str | None = None
    markersize: float | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        _same_length("stem plot", x=self.x, y=self.y)


@dataclass(frozen=True)
class Band:
    """The area between ``lower`` and ``upper`` over x (a confidence band)."""

    x: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    alpha: float = 0.3
    label: str | None = None
    color: str | None = None

    def __post_init__(self) -> None:
        _same_length("band", x=self.x, lower=self.lower, upper=self.upper)


@dataclass(frozen=True)
class Rug:
    """Short ticks at x along the bottom of the panel (exact eigenvalues under a density)."""

    x: tuple[float, ...]
    label: str | None = None
    color: str = "k"
    markersize: float = 10.0


Mark = Line | Scatter | Bars | HLine | Text | Stems | Band | Rug


@dataclass(frozen=True)
class Panel:
    """One set of axes: marks drawn in order, then the axes' labels, scales and legend.

    Attributes:
        marks: what is drawn, in order (later marks on top; default colours cycle).
        title, xlabel, ylabel: texts (None: none); ``*_size`` their font sizes (None:
            matplotlib's default).
        xscale, yscale: ``"linear"``, ``"log"`` or ``"log2"`` (log, ticks at powers of 2).
        percent: y values are fractions in 0..1, drawn as 0..100 % on a fixed -3..103 axis.
        integer_x: ticks of the x axis at integers only.
        invert_x: x grows to the left.
        ylim: (bottom, top) of the y axis (None: fit the data).
        xticks: (position, label) pairs replacing the x ticks (None: automatic).
        grid: grid lines at major ticks (``"major"``), also at minor ticks (``"both"``), or
            horizontal only (``"y"``).
        legend: draw a legend of the labelled marks (none if no mark has a label).
        legend_outside: put the legend right of the axes, where it covers no mark (for
            panels full to the top, such as bar charts), instead of inside at the best place.
    """

    marks: tuple[Mark, ...]
    title: str | None = None
    title_size: float | None = None
    xlabel: str | None = None
    ylabel: str | None = None
    ylabel_size: float | None = None
    xscale: Scale = "linear"
    yscale: Scale = "linear"
    percent: bool = False
    integer_x: bool = False
    invert_x: bool = False
    ylim: tuple[float, float] | None = None
    xticks: tuple[tuple[float, str], ...] | None = None
    xtick_size: float | None = None
    grid: Literal["major", "both", "y"] = "major"
    legend: bool = False
    legend_size: float | None = None
    legend_outside: bool = False

    def __post_init__(self) -> None:
        for name in ("xscale", "yscale"):
            if getattr(self, name) not in ("linear", "log", "log2"):
                raise ValueError(
                    f"{name} must be 'linear', 'log' or 'log2'; got {getattr(self, name)!r}."
                )
        if self.grid not in ("major", "both", "y"):
            raise ValueError(f"grid must be 'major', 'both' or 'y'; got {self.grid!r}.")


@dataclass(frozen=True)
class FigureSpec:
    """One figure, written as ``{stem}.png`` and ``{stem}.svg``.

    Attributes:
        stem: file name without suffix (no folder; dots are kept).
        panels: the panels, row by row.
        title: the figure's title: over all panels, or, for a single panel without a title
            of its own, that panel's title. None: no title.
        title_size: its font size (None: matplotlib's default).
        ncols: panels per row (default: all in one row).
        size: (width, height) in inches.
        dpi: resolution of the PNG.
        share: panels share their x and y axes (a grid of comparable panels).
    """

    stem: str
    panels: tuple[Panel, ...]
    title: str | None = None
    title_size: float | None = None
    ncols: int | None = None
    size: tuple[float, float] = (6.0, 4.0)
    dpi: int = 120
    share: bool = False

    def __post_init__(self) -> None:
        if not self.stem or "/" in self.stem or "\\" in self.stem:
            raise ValueError(f"a figure stem is a file name without a folder; got {self.stem!r}.")
        if not self.panels:
            raise ValueError(f"figure {self.stem!r} has no panels.")
        if self.ncols is not None and (self.ncols < 1 or len(self.panels) % self.ncols):
            raise ValueError(
                f"figure {self.stem!r}: {len(self.panels)} panels do not fill rows of "
                f"ncols = {self.ncols}."
            )

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of panels."""
        ncols = self.ncols or len(self.panels)
        return len(self.panels) // ncols, ncols


def _check_keys(summary: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> None:
    if not summary:
        raise ValueError("there is nothing to plot: the summary has no rows.")
    for key in keys:
        for row in summary:
            if key not in row:
                raise ValueError(
                    f"summary rows have no key {key!r} to plot; keys are {sorted(row)}."
                )


def _interval(summary: Sequence[Mapping[str, Any]], key: str) -> tuple[str, str] | None:
    """The keys of ``key``'s interval (``key_lo``, ``key_hi``) if every row has them."""
    lo, hi = f"{key}_lo", f"{key}_hi"
    return (lo, hi) if all(lo in row and hi in row for row in summary) else None


def line_chart(
    summary: Sequence[Mapping[str, Any]],
    x: str,
    y: str,
    group: str,
    stem: str,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    group_label: str | None = None,
    percent: bool = True,
) -> FigureSpec:
    """``y`` against ``x``, one line with markers per value of ``group``.

    Args:
        summary: one dict per cell (a study's summary).
        x: key of the horizontal axis (numbers).
        y: key of the vertical axis (numbers; None is drawn as a gap).
        group: key whose values split the rows into lines (sorted).
        stem: file name of the figure.
        xlabel, ylabel: axis labels (default the keys).
        title: figure title (default none).
        group_label: legend name of the group (default ``group``); entries read
            ``"{group_label} = {value}"``, or just the value when ``group_label`` is "".
        percent: ``y`` holds fractions in 0..1, drawn as 0..100 %.

    Where every row has ``{y}_lo`` and ``{y}_hi`` (a fraction's 95 % interval), each line
    gets a band between them, in its colour.

    Raises:
        ValueError: if ``summary`` is empty, a row lacks a key, or a value is not a number.
    """
    _check_keys(summary, (x, y, group))
    interval = _interval(summary, y)
    lines: dict[Any, list[tuple[float, ...]]] = {}
    for row in summary:
        keys = (x, y, *(interval or ()))
        try:
            point = floats(row[k] for k in keys)
        except ValueError:
            raise ValueError(
                f"cannot plot {x}={row[x]!r}, {y}={row[y]!r}: values must be numbers."
            ) from None
        lines.setdefault(row[group], []).append(point)
    marks: list[Mark] = []
    for i, value in enumerate(sorted(lines, key=lambda v: (str(type(v)), v))):
        pts = sorted(lines[value])
        xs = tuple(p[0] for p in pts)
        label = str(value) if group_label == "" else f"{group_label or group} = {value}"
        color = f"C{i % 10}"
        if interval:
            lows, highs = tuple(p[2] for p in pts), tuple(p[3] for p in pts)
            marks.append(Band(xs, lows, highs, alpha=0.15, color=color))
        marks.append(Line(xs, tuple(p[1] for p in pts), label, color=color, marker="o"))
    integer_x = all(isinstance(row[x], Real) and float(row[x]).is_integer() for row in summary)
    panel = Panel(tuple(marks), xlabel=xlabel or x, ylabel=ylabel or y, percent=percent,
                  integer_x=integer_x, legend=True)  # fmt: skip
    return FigureSpec(stem, (panel,), title=title or None, size=(6.0, 4.0), dpi=150)


def band_chart(
    series: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
    *,
    x: str,
    mid: str,
    lo: str,
    hi: str,
    stem: str,
    xlabel: str,
    ylabel: str,
    title: str,
) -> FigureSpec | None:
    """One line of ``mid`` with a band from ``lo`` to ``hi`` per labelled series of cells,
    log-log (x in powers of 2); cells whose ``mid`` is None are left out, and None is
    returned when no cell is left (nothing to draw).
    """
    marks: list[Mark] = []
    for i, (label, rows) in enumerate(series):
        cells = [c for c in rows if c[mid] is not None]
        if not cells:
            continue
        color = f"C{i}"
        xs = floats(c[x] for c in cells)
        marks.append(Band(xs, floats(c[lo] for c in cells), floats(c[hi] for c in cells),
                          color=color, alpha=0.2))  # fmt: skip
        marks.append(Line(xs, floats(c[mid] for c in cells), label, color=color, marker="o"))
    if not marks:
        return None
    panel = Panel(tuple(marks), xlabel=xlabel, ylabel=ylabel, xscale="log2", yscale="log",
                  legend=True)  # fmt: skip
    return FigureSpec(stem, (panel,), title=title, size=(6.0, 4.0), dpi=150)


def grid_chart(
    summary: Sequence[Mapping[str, Any]],
    *,
    row: str,
    col: str,
    x: str,
    ys: Sequence[tuple[str, str]],
    stem: str,
    xlabel: str | None = None,
    percent: bool = True,
    logy: bool = False,
    logx: bool = False,
    title: str | None = None,
) -> FigureSpec:
    """One panel per (row value, col value); in each, one line per (key, label) in ``ys``.

    Panels share their axes; values index rows and columns in first-seen order.

    Args:
        summary: one dict per cell.
        row, col: keys whose values index the panel rows and columns.
        x: key of the horizontal axis.
        ys: (key, legend label) pairs drawn as lines in every panel; a key with
            ``{key}_lo`` and ``{key}_hi`` in every row (a fraction's 95 % interval) gets a
            band between them, in its line's colour.
        stem: file name of the figure.
        xlabel: horizontal axis label (default ``x``).
        percent: the y values are fractions in 0..1, drawn as percentages.
        logy: logarithmic vertical axis (ignored with ``percent``).
        logx: logarithmic horizontal axis (for sample sizes and the like).
        title: figure title.

    Raises:
        ValueError: if ``summary`` is empty, a row lacks a key, or a value is not a number.
    """
    _check_keys(summary, (row, col, x, *(k for k, _ in ys)))
    rows = list(dict.fromkeys(c[row] for c in summary))
    cols = list(dict.fromkeys(c[col] for c in summary))
    panels = []
    for i, rv in enumerate(rows):
        for j, cv in enumerate(cols):
            cells = sorted(
                (c for c in summary if c[row] == rv and c[col] == cv), key=lambda c: c[x]
            )
            xs = floats(c[x] for c in cells)
            marks: list[Mark] = []
            for n, (key, label) in enumerate(ys):
                color = f"C{n % 10}"
                interval = _interval(summary, key)
                if interval:
                    lo, hi = (floats(c[k] for c in cells) for k in interval)
                    marks.append(Band(xs, lo, hi, alpha=0.15, color=color))
                vals = floats(c[key] for c in cells)
                marks.append(Line(xs, vals, label, color=color, marker="o", markersize=3))
            panels.append(
                Panel(
                    tuple(marks),
                    title=f"{col} = {cv}" if i == 0 else None,
                    title_size=9,
                    ylabel=f"{row} = {rv}" if j == 0 else None,
                    ylabel_size=9,
                    xlabel=(xlabel or x) if i == len(rows) - 1 else None,
                    xscale="log" if logx else "linear",
                    integer_x=not logx,
                    percent=percent,
                    yscale="log" if logy and not percent else "linear",
                    legend=len(ys) > 1 and i == j == 0,
                    legend_size=7,
                )
            )
    return FigureSpec(
        stem,
        tuple(panels),
        title=title or None,
        ncols=len(cols),
        size=(3.0 * len(cols) + 0.5, 2.4 * len(rows) + 0.6),
        share=True,
    )
