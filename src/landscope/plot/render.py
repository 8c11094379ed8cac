"""Draw a figure spec (``landscope.studies.figures``) as PNG and SVG.

Figures are built on ``matplotlib.figure.Figure`` directly rather than through pyplot, so
no GUI backend is ever chosen, nothing global changes, and no figure stays open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ..studies.figures import (
    Band,
    Bars,
    FigureSpec,
    HLine,
    Line,
    Mark,
    Panel,
    Rug,
    Scatter,
    Stems,
    Text,
)
from ._save import save_png_svg

__all__ = ["draw", "render"]


def _kw(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that are set: None leaves matplotlib's default (rcParams)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _array(values: Any, scale: float = 1.0) -> Any:
    if isinstance(values, (int, float)):
        return values * scale
    a = np.asarray(values, dtype=float)
    return a * scale if scale != 1.0 else a


def _mark(ax: Axes, m: Mark, yscale: float) -> None:
    """Draw one mark; ``yscale`` multiplies y values (100 on a percent axis)."""
    if isinstance(m, Line):
        ax.plot(_array(m.x), _array(m.y, yscale), linestyle=m.linestyle,
                **_kw(color=m.color, marker=m.marker, markersize=m.markersize,
                      linewidth=m.linewidth, label=m.label))  # fmt: skip
    elif isinstance(m, Scatter):
        ax.scatter(_array(m.x), _array(m.y, yscale),
                   **_kw(s=None if m.size is None else _array(m.size), color=m.color,
                         alpha=m.alpha, label=m.label))  # fmt: skip
    elif isinstance(m, Bars):
        bottom = None if m.bottom is None else _array(m.bottom, yscale)
        ax.bar(_array(m.x), _array(m.height, yscale), m.width,
               **_kw(bottom=bottom, color=m.color, hatch=m.hatch, edgecolor=m.edgecolor,
                     linewidth=m.linewidth, label=m.label))  # fmt: skip
    elif isinstance(m, HLine):
        ax.axhline(m.y * yscale, **_kw(color=m.color, linestyle=m.linestyle,
                                       linewidth=m.linewidth, label=m.label))  # fmt: skip
    elif isinstance(m, Text):
        ax.text(m.x, m.y * yscale, m.text, ha=m.ha, va=m.va, **_kw(fontsize=m.fontsize))
    elif isinstance(m, Stems):
        stems = ax.stem(_array(m.x), _array(m.y, yscale), **_kw(linefmt=m.color),
                        markerfmt="o", basefmt=" ")  # fmt: skip
        if m.color is not None:
            stems.markerline.set_color(m.color)
        if m.markersize is not None:
            stems.markerline.set_markersize(m.markersize)
        if m.label is not None:
            stems.set_label(m.label)
    elif isinstance(m, Band):
        lo, hi = _array(m.lower, yscale), _array(m.upper, yscale)
        style = _kw(label=m.label, color=m.color)
        ax.fill_between(_array(m.x), lo, hi, alpha=m.alpha, linewidth=0, **style)
    elif isinstance(m, Rug):
        x = _array(m.x)
        # y in axes coordinates: just above the bottom edge whatever the y scale
        ax.plot(x, np.full(x.shape, 0.01), "|", color=m.color, markersize=m.markersize,
                transform=ax.get_xaxis_transform(), **_kw(label=m.label))  # fmt: skip
    else:
        raise TypeError(f"cannot draw a {type(m).__name__}: not a mark of studies.figures.")


def _set_scale(ax: Axes, axis: str, scale: str) -> None:
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if scale == "log2":
        setter("log", base=2)
    elif scale != "linear":
        setter(scale)


def _panel(ax: Axes, p: Panel) -> None:
    yscale = 100.0 if p.percent else 1.0
    for m in p.marks:
        _mark(ax, m, yscale)
    if p.xticks is not None:
        ax.set_xticks([t for t, _ in p.xticks], [lab for _, lab in p.xticks],
                      **_kw(fontsize=p.xtick_size))  # fmt: skip
    _set_scale(ax, "x", p.xscale)
    _set_scale(ax, "y", p.yscale)
    if p.invert_x:
        ax.invert_xaxis()
    if p.integer_x:  # after the scale, which resets the locator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if p.percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=100.0))
        ax.set_ylim(-3.0, 103.0)
    if p.ylim is not None:
        ax.set_ylim(*p.ylim)
    if p.xlabel is not None:
        ax.set_xlabel(p.xlabel)
    if p.ylabel is not None:
        ax.set_ylabel(p.ylabel, **_kw(fontsize=p.ylabel_size))
    if p.title is not None:
        ax.set_title(p.title, **_kw(fontsize=p.title_size))
    if p.grid == "both":
        ax.grid(True, which="both", alpha=0.3)
    elif p.grid == "y":
        ax.grid(True, axis="y", alpha=0.3)
    else:
        ax.grid(True, alpha=0.3)
    if p.legend and any(getattr(m, "label", None) for m in p.marks):
        # outside: upper left corner just right of the axes; constrained layout makes room
        where = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.legend(**(where if p.legend_outside else {}), **_kw(fontsize=p.legend_size))


def draw(spec: FigureSpec, *, note: str | None = None) -> Figure:
    """The matplotlib figure of ``spec``, not saved (for notebooks and custom output).

    Args:
        spec: the figure.
        note: a warning written in red under the panels (e.g. that cells are missing).
    """
    fig = Figure(figsize=spec.size, layout="constrained")
    nrows, ncols = spec.shape
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=spec.share, sharey=spec.share)
    for ax, panel in zip(axes.flat, spec.panels, strict=True):
        _panel(ax, panel)
    if spec.title:
        only = spec.panels[0] if len(spec.panels) == 1 else None
        if only is not None and only.title is None:
            axes[0][0].set_title(spec.title, **_kw(fontsize=spec.title_size))
        else:
            fig.suptitle(spec.title, **_kw(fontsize=spec.title_size))
    if note:
        # a figure-level label, so constrained layout keeps room for it under the panels
        fig.supxlabel(note, color="C3", fontsize=9, fontweight="bold")
    return fig


def render(spec: FigureSpec, out_dir: str | Path, *, note: str | None = None) -> list[Path]:
    """Draw ``spec`` and write ``out_dir/{stem}.png`` and ``.svg`` (the folder is created).

    Args:
        spec: the figure.
        out_dir: the folder.
        note: a warning written in red under the panels (see ``draw``).

    Returns:
        ``[stem.png, stem.svg]``.
    """
    if not isinstance(spec, FigureSpec):
        raise TypeError(f"render takes a FigureSpec; got {type(spec).__name__}.")
    return save_png_svg(draw(spec, note=note), Path(out_dir) / spec.stem, dpi=spec.dpi)
