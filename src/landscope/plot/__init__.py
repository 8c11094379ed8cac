"""Figures: figure specs (``landscope.studies.figures``) drawn as PNG and SVG; spectra, paths.

Studies describe their figures as data and never import this package (nor matplotlib);
``render`` draws one spec, ``plot_study`` all of a study's from the results store.
"""

from .paths import path_figure, path_spec
from .render import draw, render
from .spectrum import density_figure, density_spec, stem_figure, stem_spec
from .study import incomplete_note, plot_study

__all__ = [
    "density_figure",
    "density_spec",
    "draw",
    "incomplete_note",
    "path_figure",
    "path_spec",
    "plot_study",
    "render",
    "stem_figure",
    "stem_spec",
]
