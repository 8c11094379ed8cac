"""The loss along a path between two points (``landscope.connect.Path``)."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ._save import save_png_svg

if TYPE_CHECKING:  # plot draws paths; it does not build them
    from ..connect.path import Path

__all__ = ["path_figure"]


def path_figure(path: Path, path_stem: str | FilePath, title: str | None = None) -> list[FilePath]:
    """Loss against the position t along the path (arc length), beads marked, level dashed.

    Returns:
        ``[stem.png, stem.svg]``.
    """
    t = path.t.detach().cpu().numpy()
    loss = path.loss.detach().cpu().numpy()
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(t, loss, color="C0", lw=1.2, label=f"{path.method} ({path.status})")
    steps = np.linalg.norm(np.diff(path.beads.detach().cpu().numpy(), axis=0), axis=1)
    tb = np.concatenate([[0.0], np.cumsum(steps)]) / max(float(steps.sum()), 1e-300)
    ax.plot(tb, path.bead_loss.detach().cpu().numpy(), "o", color="C1", ms=4,
            label=f"beads ({path.n_beads} interior)")  # fmt: skip
    if path.level is not None:
        ax.axhline(path.level, color="gray", ls="--", lw=0.8, label=f"level {path.level:.3g}")
    if np.all(loss > 0) and loss.max() / max(loss.min(), 1e-300) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("position along the path (arc length, 0 = A, 1 = B)")
    ax.set_ylabel("loss")
    ax.set_title(title or f"{path.method}: barrier {path.barrier:.3g}, "
                 f"length / chord {path.normalized_length:.3f}", fontsize=9)  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return save_png_svg(fig, path_stem, dpi=120)
