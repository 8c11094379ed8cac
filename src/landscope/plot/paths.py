"""The loss along a path between two points (``landscope.connect.Path``)."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import TYPE_CHECKING

import numpy as np

from ..studies.figures import FigureSpec, HLine, Line, Panel
from .render import render

if TYPE_CHECKING:  # plot draws paths; it does not build them
    from ..connect.path import Path

__all__ = ["path_figure", "path_spec"]


def _tuple(a: np.ndarray) -> tuple[float, ...]:
    return tuple(a.astype(float).tolist())


def path_spec(path: Path, stem: str, title: str | None = None) -> FigureSpec:
    """Loss against the position t along the path (arc length), beads marked, level dashed.

    The loss axis is logarithmic when the loss is positive and spans over two decades.
    """
    t = path.t.detach().cpu().numpy()
    loss = path.loss.detach().cpu().numpy()
    steps = np.linalg.norm(np.diff(path.beads.detach().cpu().numpy(), axis=0), axis=1)
    tb = np.concatenate([[0.0], np.cumsum(steps)]) / max(float(steps.sum()), 1e-300)
    marks: list = [
        Line(_tuple(t), _tuple(loss), f"{path.method} ({path.status})", color="C0",
             linewidth=1.2),
        Line(_tuple(tb), _tuple(path.bead_loss.detach().cpu().numpy()),
             f"beads ({path.n_beads} interior)", color="C1", marker="o", linestyle="None",
             markersize=4),
    ]  # fmt: skip
    if path.level is not None:
        marks.append(HLine(path.level, color="gray", linestyle="--", linewidth=0.8,
                           label=f"level {path.level:.3g}"))  # fmt: skip
    logy = bool(np.all(loss > 0) and loss.max() / max(loss.min(), 1e-300) > 100)
    panel = Panel(
        tuple(marks),
        xlabel="position along the path (arc length, 0 = A, 1 = B)",
        ylabel="loss",
        yscale="log" if logy else "linear",
        legend=True,
        legend_size=7,
    )
    title = title or (f"{path.method}: barrier {path.barrier:.3g}, "
                      f"length / chord {path.normalized_length:.3f}")  # fmt: skip
    return FigureSpec(stem, (panel,), title=title, title_size=9, dpi=120)


def path_figure(path: Path, path_stem: str | FilePath, title: str | None = None) -> list[FilePath]:
    """Draw ``path_spec(...)`` to ``path_stem.png`` and ``.svg``; see ``path_spec``.

    Returns:
        ``[stem.png, stem.svg]``.
    """
    path_stem = FilePath(path_stem)
    return render(path_spec(path, path_stem.name, title), path_stem.parent)
