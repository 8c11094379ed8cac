"""Figures of the published kind, drawn from a study's summary."""

from .grid import grid_figure
from .lines import line_figure

__all__ = ["grid_figure", "line_figure"]
