"""Figures of the published kind, drawn from a study's summary; spectra and paths."""

from .grid import grid_figure
from .lines import line_figure
from .paths import path_figure
from .spectrum import density_figure, stem_figure

__all__ = ["density_figure", "grid_figure", "line_figure", "path_figure", "stem_figure"]
