"""Line figures of a study summary: one line per group, as PNG and SVG.

Figures are built on ``matplotlib.figure.Figure`` directly rather than through pyplot, so
no GUI backend is ever chosen, nothing global changes, and no figure stays open.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ._save import save_png_svg

__all__ = ["line_figure"]


def _number(value: Any) -> float:
    """A plottable float; None (a cell with no data for this metric) becomes a gap."""
    if value is None:
        return math.nan
    return float(value)


def line_figure(
    summary: Sequence[Mapping[str, Any]],
    x: str,
    y: str,
    group: str,
    path_stem: str | Path,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    group_label: str | None = None,
    percent: bool = True,
) -> list[Path]:
    """Plot ``y`` against ``x``, one line with markers per value of ``group``.

    Args:
        summary: one dict per cell (a study's summary).
        x: key of the horizontal axis (numbers).
        y: key of the vertical axis (numbers; None is drawn as a gap).
        group: key whose values split the rows into lines.
        path_stem: output path without suffix; ``.png`` and ``.svg`` are appended, and the
            folder is created if needed.
        xlabel: axis label (default ``x``).
        ylabel: axis label (default ``y``).
        title: figure title (default none).
        group_label: legend name of the group (default ``group``); entries read
            ``"{group_label} = {value}"``, or just the value when ``group_label`` is "".
        percent: ``y`` holds fractions in 0..1, drawn as 0..100 %.

    Returns:
        ``[stem.png, stem.svg]``.

    Raises:
        ValueError: if ``summary`` is empty, a row lacks a key, or a value is not a number.
    """
    if not summary:
        raise ValueError("there is nothing to plot: the summary has no rows.")
    lines: dict[Any, list[tuple[float, float]]] = {}
    for row in summary:
        for key in (x, y, group):
            if key not in row:
                raise ValueError(
                    f"summary rows have no key {key!r} to plot; keys are {sorted(row)}."
                )
        try:
            point = (_number(row[x]), _number(row[y]))
        except (TypeError, ValueError):
            raise ValueError(
                f"cannot plot {x}={row[x]!r}, {y}={row[y]!r}: values must be numbers."
            ) from None
        lines.setdefault(row[group], []).append(point)

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    scale = 100.0 if percent else 1.0
    for value in sorted(lines, key=lambda v: (str(type(v)), v)):
        pts = sorted(lines[value])
        ax.plot(
            [p[0] for p in pts],
            [p[1] * scale for p in pts],
            marker="o",
            label=str(value) if group_label == "" else f"{group_label or group} = {value}",
        )
    if all(isinstance(row[x], Real) and float(row[x]).is_integer() for row in summary):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=100.0))
        ax.set_ylim(-3.0, 103.0)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()

    return save_png_svg(fig, path_stem, dpi=150)
