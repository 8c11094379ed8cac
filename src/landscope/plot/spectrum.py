"""Hessian spectrum figures: an SLQ density with its band, and a stem plot of exact eigenvalues.

``density_spec`` and ``stem_spec`` build figure specs (``landscope.studies.figures``);
``density_figure`` and ``stem_figure`` draw them to PNG and SVG.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..spectrum import Density
from ..studies.figures import Band, FigureSpec, HLine, Line, Panel, Rug, Stems
from .render import render

__all__ = ["density_figure", "density_spec", "stem_figure", "stem_spec"]


def _one_row(x: object, name: str) -> np.ndarray:
    a = torch.as_tensor(x, dtype=torch.float64).detach().cpu().numpy()
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} has shape {a.shape}; expected one row (P,) of eigenvalues.")
    return a


def _floor(mean: np.ndarray) -> float:
    """Bottom of a log density axis: six decades below the peak show the outliers."""
    return max(float(mean.max()) * 1e-6, np.finfo(float).tiny)


def _tuple(a: np.ndarray) -> tuple[float, ...]:
    return tuple(a.astype(float).tolist())


# A title in TITLE_SIZE points of at most TITLE_CHARS characters a line fits the 6-inch
# width of these figures (a run's whole configuration is one long line, clipped otherwise):
# 72 digits, the widest common characters (0.64 em), take 415 of the 432 points.
TITLE_SIZE = 9.0
TITLE_CHARS = 72


def _title(title: str | None) -> str | None:
    """``title`` broken at spaces into lines that fit the figure's width (None if empty)."""
    if not title:
        return None
    # no break at hyphens: "1e-05" and "spurious-relu" stay whole
    lines = textwrap.wrap(title, TITLE_CHARS, break_on_hyphens=False)
    return "\n".join(lines) or None


def density_spec(
    density: Density,
    stem: str,
    exact: object | None = None,
    *,
    row: int = 0,
    sigma: float | None = None,
    grid: object | None = None,
    title: str | None = None,
    logy: bool = True,
) -> FigureSpec:
    """One row's SLQ spectral density with its +-2 standard error band, as a figure spec.

    Args:
        density: the result of ``slq``.
        stem: file name of the figure.
        exact: that row's exact eigenvalues (P,), drawn as a rug under the curve, if given.
        row: which parameter row of ``density`` to draw.
        sigma: Gaussian smoothing width (default ``density.default_sigma()`` of the row).
        grid: evaluation points (default 512 over the row's nodes, 3 sigma beyond them).
        title: figure title, broken into lines that fit the figure's width.
        logy: logarithmic density axis (the usual view: Hessian spectra are a tall spike
            near zero and a thin bulk and outliers).

    Raises:
        ValueError: for a row out of range or a row without finite nodes.
    """
    R = density.nodes.shape[0]
    if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < R:
        raise ValueError(f"row must be an integer in 0..{R - 1}, got {row!r}.")
    one = Density(density.nodes[row : row + 1], density.weights[row : row + 1], density.n_params)
    if not bool(torch.isfinite(one.nodes).all()):
        raise ValueError(f"row {row} of the density is not finite (a diverged run?); no figure.")
    sigma = one.default_sigma() if sigma is None else sigma
    g = one.support(512, sigma) if grid is None else one._grid(grid)
    mean = one.density(g, sigma)[0].cpu().numpy()
    x = g.cpu().numpy()

    marks: list = []
    if one.probes >= 2:
        lo, hi = (b[0].cpu().numpy() for b in one.band(g, sigma))
        floor = _floor(mean) if logy else -math.inf
        marks.append(Band(_tuple(x), _tuple(np.maximum(lo, floor)), _tuple(hi),
                          label="±2 standard errors over probes"))  # fmt: skip
    marks.append(
        Line(_tuple(x), _tuple(mean), f"SLQ, {one.probes} probes, {one.nodes.shape[2]} steps")
    )
    if exact is not None:
        ev = _one_row(exact, "exact")
        marks.append(Rug(_tuple(ev), label=f"exact eigenvalues ({ev.size})"))
    panel = Panel(
        tuple(marks),
        xlabel="eigenvalue",
        ylabel=f"density (Gaussian, sigma = {sigma:.3g})",
        yscale="log" if logy else "linear",
        ylim=(_floor(mean), 5 * float(mean.max())) if logy else None,
        legend=True,
        legend_size=8,
    )
    return FigureSpec(stem, (panel,), title=_title(title), title_size=TITLE_SIZE, dpi=150)


def stem_spec(eigs: object, stem: str, title: str | None = None) -> FigureSpec:
    """An exact spectrum as stems, eigenvalues in ascending order against their index.

    Negative eigenvalues are drawn in another colour, so a saddle shows at a glance.

    Args:
        eigs: one row of eigenvalues, (P,) or (1, P).
        stem: file name of the figure.
        title: figure title, broken into lines that fit the figure's width.

    Raises:
        ValueError: for more than one row, no eigenvalues, or non-finite values.
    """
    ev = np.sort(_one_row(eigs, "eigs"))
    if not np.isfinite(ev).all():
        raise ValueError("eigs contains NaN or infinite values; the spectrum was not computed.")
    idx = np.arange(1, ev.size + 1)
    neg = ev < 0
    marks: list = [
        Stems(_tuple(idx[mask]), _tuple(ev[mask]), colour, 3, f"{label} ({int(mask.sum())})")
        for mask, colour, label in ((~neg, "C0", "λ ≥ 0"), (neg, "C3", "λ < 0"))
        if mask.any()
    ]
    marks.append(HLine(0.0, color="k", linewidth=0.8))
    panel = Panel(tuple(marks), xlabel="index (ascending)", ylabel="Hessian eigenvalue",
                  legend=True, legend_size=8)  # fmt: skip
    return FigureSpec(stem, (panel,), title=_title(title), title_size=TITLE_SIZE, dpi=150)


def density_figure(
    density: Density, path_stem: str | Path, exact: object | None = None, **options: Any
) -> list[Path]:
    """Draw ``density_spec(...)`` to ``path_stem.png`` and ``.svg``; see ``density_spec``.

    Args:
        density, exact: as for ``density_spec``.
        path_stem: the files' path without suffix; its name is the figure's stem.
        options: ``density_spec``'s keywords (``row``, ``sigma``, ``grid``, ``title``,
            ``logy``), with its defaults.

    Returns:
        ``[stem.png, stem.svg]``.
    """
    path_stem = Path(path_stem)
    return render(density_spec(density, path_stem.name, exact, **options), path_stem.parent)


def stem_figure(eigs: object, path_stem: str | Path, title: str | None = None) -> list[Path]:
    """Draw ``stem_spec(...)`` to ``path_stem.png`` and ``.svg``; see ``stem_spec``.

    Returns:
        ``[stem.png, stem.svg]``.
    """
    path_stem = Path(path_stem)
    return render(stem_spec(eigs, path_stem.name, title), path_stem.parent)
