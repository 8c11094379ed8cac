"""A study's figures, drawn from the results store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..sweep import show_study
from .render import render

if TYPE_CHECKING:
    from ..studies import Study

__all__ = ["plot_study"]


def plot_study(study: Study, out_dir: str | Path) -> list[Path]:
    """Draw the study's figure specs, from its stored summary, into ``out_dir/figures``.

    Returns:
        The paths of the files written (PNG and SVG of each figure).

    Raises:
        ValueError: if the store holds no results of this study.
    """
    summary = show_study(study, out_dir)
    fig_dir = Path(out_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    return [path for spec in study.figures(summary) for path in render(spec, fig_dir)]
