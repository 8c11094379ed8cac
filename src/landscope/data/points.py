"""One entry point to a point set by name or file (``landscope ntk --data``)."""

from __future__ import annotations

from pathlib import Path

import torch

from .digits import digits
from .files import load_points
from .sphere import sphere

__all__ = ["DATA_SOURCES", "DATA_SUFFIXES", "DEFAULT_N", "points"]

# Named point sets of ``points``; any other source is a .npy or .csv file.
DATA_SOURCES = ("sphere", "digits")
DATA_SUFFIXES = (".npy", ".csv")
DEFAULT_N = 100  # points of a named set when n is not given


def points(source: str | Path, n: int | None = None, *, d: int = 10, seed: int = 0) -> torch.Tensor:
    """An (n, d) point set by name or file: the one entry point of ``landscope ntk --data``.

    Args:
        source: ``"sphere"`` (``sphere(n, d, seed=seed)``), ``"digits"`` (``digits(n)``,
            unit rows, d = 64) or the path of a ``.npy`` / ``.csv`` file (``load_points``).
        n: points (default ``DEFAULT_N`` = 100 for a named set; all rows of a file).
        d: sphere: the dimension (default 10).
        seed: sphere: the seed of its generator (default 0).

    Raises:
        ValueError: for a source that is neither a named set nor a .npy or .csv path, and
            as ``sphere``, ``digits`` and ``load_points`` (one sentence each).
    """
    if source == "sphere":
        return sphere(DEFAULT_N if n is None else n, d, seed=seed)
    if source == "digits":
        return digits(DEFAULT_N if n is None else n)
    if str(source).lower().endswith(DATA_SUFFIXES):
        return load_points(source, n)
    raise ValueError(
        f"unknown data source {str(source)!r}; use sphere, digits, or a .npy or .csv file."
    )
