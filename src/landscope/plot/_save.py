"""Write a figure as PNG and SVG, reproducibly."""

from __future__ import annotations

from pathlib import Path

from matplotlib import rc_context
from matplotlib.figure import Figure

__all__ = ["save_png_svg"]


def save_png_svg(fig: Figure, path_stem: str | Path, *, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` (the folder is created).

    Returns:
        ``[stem.png, stem.svg]``.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Suffixes are appended, not substituted: a stem like "k.6-20" must keep its dots.
    paths = [stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"]
    fig.savefig(paths[0], dpi=dpi, metadata={"Software": None})
    # No date and a fixed id salt in the SVG, so redrawing unchanged results gives an
    # identical file (clip-path ids are random otherwise).
    with rc_context({"svg.hashsalt": "landscope"}):
        fig.savefig(paths[1], metadata={"Date": None})
    return paths
