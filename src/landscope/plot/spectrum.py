"""Hessian spectrum figures: an SLQ density with its band, and a stem plot of exact eigenvalues.

Built on ``matplotlib.figure.Figure`` directly, as ``lines.py`` is: no pyplot state.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ..spectrum import Density
from ._save import save_png_svg

__all__ = ["density_figure", "stem_figure"]


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


def density_figure(
    density: Density,
    path_stem: str | Path,
    exact: object | None = None,
    *,
    row: int = 0,
    sigma: float | None = None,
    grid: object | None = None,
    title: str | None = None,
    logy: bool = True,
) -> list[Path]:
    """Draw one row's SLQ spectral density with its +-2 standard error band.

    Args:
        density: the result of ``slq``.
        path_stem: output path without suffix; ``.png`` and ``.svg`` are written.
        exact: that row's exact eigenvalues (P,), drawn as a rug under the curve, if given.
        row: which parameter row of ``density`` to draw.
        sigma: Gaussian smoothing width (default ``density.default_sigma()`` of the row).
        grid: evaluation points (default 512 over the row's nodes, 3 sigma beyond them).
        title: figure title.
        logy: logarithmic density axis (the usual view: Hessian spectra are a tall spike
            near zero and a thin bulk and outliers).

    Returns:
        ``[stem.png, stem.svg]``.

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

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    if one.probes >= 2:
        lo, hi = (b[0].cpu().numpy() for b in one.band(g, sigma))
        floor = _floor(mean) if logy else -math.inf
        ax.fill_between(
            x,
            np.maximum(lo, floor),
            hi,
            alpha=0.3,
            linewidth=0,
            label="±2 standard errors over probes",
        )
    ax.plot(x, mean, label=f"SLQ, {one.probes} probes, {one.nodes.shape[2]} steps")
    if exact is not None:
        ev = _one_row(exact, "exact")
        ax.plot(
            ev,
            np.full(ev.shape, 0.01),
            "|",
            color="k",
            markersize=10,
            transform=ax.get_xaxis_transform(),
            label=f"exact eigenvalues ({ev.size})",
        )
    if logy:
        ax.set_yscale("log")
        ax.set_ylim(_floor(mean), 5 * float(mean.max()))
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel(f"density (Gaussian, sigma = {sigma:.3g})")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_png_svg(fig, path_stem, dpi=150)


def stem_figure(eigs: object, path_stem: str | Path, title: str | None = None) -> list[Path]:
    """Draw an exact spectrum as stems, eigenvalues in ascending order against their index.

    Negative eigenvalues are drawn in another colour, so a saddle shows at a glance.

    Args:
        eigs: one row of eigenvalues, (P,) or (1, P).
        path_stem: output path without suffix; ``.png`` and ``.svg`` are written.
        title: figure title.

    Returns:
        ``[stem.png, stem.svg]``.

    Raises:
        ValueError: for more than one row, no eigenvalues, or non-finite values.
    """
    ev = np.sort(_one_row(eigs, "eigs"))
    if not np.isfinite(ev).all():
        raise ValueError("eigs contains NaN or infinite values; the spectrum was not computed.")
    idx = np.arange(1, ev.size + 1)
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    neg = ev < 0
    for mask, colour, label in ((~neg, "C0", "λ ≥ 0"), (neg, "C3", "λ < 0")):
        if mask.any():
            stems = ax.stem(idx[mask], ev[mask], linefmt=colour, markerfmt="o", basefmt=" ")
            stems.markerline.set_color(colour)
            stems.markerline.set_markersize(3)
            stems.set_label(f"{label} ({int(mask.sum())})")
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.set_xlabel("index (ascending)")
    ax.set_ylabel("Hessian eigenvalue")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_png_svg(fig, path_stem, dpi=150)
