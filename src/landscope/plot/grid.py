"""A grid of line panels: rows and columns by two keys, one line per group in each panel.

Built on ``matplotlib.figure.Figure`` directly, as ``lines.py`` is: no pyplot state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ._save import save_png_svg

__all__ = ["grid_figure"]


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def grid_figure(
    summary: Sequence[Mapping[str, Any]],
    *,
    row: str,
    col: str,
    x: str,
    ys: Sequence[tuple[str, str]],
    path_stem: str | Path,
    xlabel: str | None = None,
    percent: bool = True,
    logy: bool = False,
    logx: bool = False,
    title: str | None = None,
) -> list[Path]:
    """One panel per (row value, col value); in each, one line per (key, label) in ``ys``.

    Args:
        summary: one dict per cell.
        row, col: keys whose values index the panel rows and columns (in first-seen order).
        x: key of the horizontal axis.
        ys: (key, legend label) pairs drawn as lines in every panel.
        path_stem: output path without suffix; ``.png`` and ``.svg`` are written.
        xlabel: horizontal axis label (default ``x``).
        percent: the y values are fractions in 0..1, drawn as percentages.
        logy: logarithmic vertical axis (ignored with ``percent``).
        logx: logarithmic horizontal axis (for sample sizes and the like).
        title: figure title.

    Returns:
        ``[stem.png, stem.svg]``.

    Raises:
        ValueError: if ``summary`` is empty or a row lacks a key.
    """
    if not summary:
        raise ValueError("there is nothing to plot: the summary has no rows.")
    for key in (row, col, x, *(k for k, _ in ys)):
        if any(key not in c for c in summary):
            raise ValueError(f"summary rows have no key {key!r} to plot.")
    rows = list(dict.fromkeys(c[row] for c in summary))
    cols = list(dict.fromkeys(c[col] for c in summary))
    fig = Figure(figsize=(3.0 * len(cols) + 0.5, 2.4 * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), len(cols), squeeze=False, sharex=True, sharey=True)
    for i, rv in enumerate(rows):
        for j, cv in enumerate(cols):
            ax = axes[i][j]
            cells = sorted(
                (c for c in summary if c[row] == rv and c[col] == cv), key=lambda c: c[x]
            )
            for key, label in ys:
                vals = [_num(c[key]) * (100.0 if percent else 1.0) for c in cells]
                ax.plot([c[x] for c in cells], vals, marker="o", markersize=3, label=label)
            if i == 0:
                ax.set_title(f"{col} = {cv}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{row} = {rv}", fontsize=9)
            if i == len(rows) - 1:
                ax.set_xlabel(xlabel or x)
            if logx:
                ax.set_xscale("log")
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            if percent:
                ax.yaxis.set_major_formatter(PercentFormatter(xmax=100.0))
                ax.set_ylim(-3.0, 103.0)
            elif logy:
                ax.set_yscale("log")
    if len(ys) > 1:
        axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save_png_svg(fig, path_stem, dpi=120)
