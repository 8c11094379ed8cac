"""The result of every path method: a polygonal chain of beads and the loss along it.

Freeman & Bruna (ICLR 2017) measure the geometry of a level set by the path that dynamic
string sampling finds between two of its points; nudged elastic bands (Draxler et al.
2018) and fitted curves (Garipov et al. 2018) give paths too. All of them are reported
as a ``Path``: the beads (the endpoints included), the loss sampled densely along the
polygon through them, and the summary numbers a study stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["PATH_COLUMNS", "PATH_STATUS", "Path", "polygon_length"]

# connected: every sampled point of the path is at or below the level (or the method
# has no level and simply finished); not_connected_found: the search gave up (depth or
# bead cap) without finding a path under the level -- never a proof of disconnection;
# not_converged: an optimizer-based method (NEB, curve fitting) ran out of iterations.
PATH_STATUS = ("connected", "not_connected_found", "not_converged")


def polygon_length(beads: torch.Tensor) -> float:
    """Euclidean length of the polygon through the rows of ``beads`` (K, P)."""
    if beads.shape[0] < 2:
        return 0.0
    return float(torch.linalg.vector_norm(beads.diff(dim=0), dim=1).sum())


@dataclass(frozen=True)
class Path:
    """A path between two points theta_A = beads[0] and theta_B = beads[-1].

    Attributes:
        beads: (K, P) float64, the polygon's vertices in order, endpoints included.
        bead_loss: (K,) the loss at each bead.
        t: (M,) positions in [0, 1] along the polygon (by arc length) where the loss was
            sampled, 0 and 1 included.
        loss: (M,) the loss at those positions.
        method: e.g. ``"linear"``, ``"string"``, ``"neb"``, ``"bezier"``, ``"chain"``.
        status: one of ``PATH_STATUS``.
        level: the loss level the path was asked to stay under (None if none).
    """

    beads: torch.Tensor
    bead_loss: torch.Tensor
    t: torch.Tensor
    loss: torch.Tensor
    method: str
    status: str
    level: float | None = None

    def __post_init__(self) -> None:
        if self.status not in PATH_STATUS:
            raise ValueError(f"unknown path status {self.status!r}; use one of {PATH_STATUS}.")

    @property
    def n_beads(self) -> int:
        """Interior beads (the endpoints not counted): 0 for a straight segment."""
        return int(self.beads.shape[0]) - 2

    @property
    def length(self) -> float:
        return polygon_length(self.beads)

    @property
    def normalized_length(self) -> float:
        """|gamma| / ||theta_A - theta_B||: 1 for a straight path (Freeman & Bruna)."""
        chord = float(torch.linalg.vector_norm(self.beads[-1] - self.beads[0]))
        return self.length / chord if chord > 0 else float("nan")

    @property
    def max_loss(self) -> float:
        return float(self.loss.max())

    @property
    def barrier(self) -> float:
        """Max loss along the path minus the larger endpoint loss (>= 0 up to sampling)."""
        return self.max_loss - float(torch.maximum(self.loss[0], self.loss[-1]))

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    def as_row(self) -> dict:
        """Flat store columns (arrays as numpy) for a study's result row."""
        return {
            "method": self.method,
            "status": self.status,
            "level": self.level,
            "connected": self.connected,
            "n_beads": self.n_beads,
            "length": self.length,
            "normalized_length": self.normalized_length,
            "max_loss": self.max_loss,
            "barrier": self.barrier,
            "path_t": self.t.detach().cpu().numpy().astype(np.float64),
            "path_loss": self.loss.detach().cpu().numpy().astype(np.float64),
        }


# The store columns of ``Path.as_row()``: name -> DuckDB type.
PATH_COLUMNS = {
    "method": "VARCHAR",
    "status": "VARCHAR",
    "level": "DOUBLE",
    "connected": "BOOLEAN",
    "n_beads": "BIGINT",
    "length": "DOUBLE",
    "normalized_length": "DOUBLE",
    "max_loss": "DOUBLE",
    "barrier": "DOUBLE",
    "path_t": "DOUBLE[]",
    "path_loss": "DOUBLE[]",
}
