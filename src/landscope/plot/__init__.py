"""Figures of the published kind, drawn from a study's summary."""

from .lines import line_figure

__all__ = ["line_figure"]
