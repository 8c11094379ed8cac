"""Bulk and outliers of a Hessian spectrum, split at an edge.

Sagun et al. (2017) and Papyan (2019) see the Hessian spectrum of a trained network split
into a bulk near zero and a few outliers; Arjevani & Field (NeurIPS 2020) show for the
ReLU teacher-student that at the global minimum W = I the bulk eigenvalues stay O(1) for
every k (1/4 - 1/(2 pi), 0.26-0.28 and 1/4 + 1/(2 pi)) while k + 1 outliers grow like
k / 4, so a fixed edge (1/2 there) separates the two at every k. ``bulk_outliers`` counts
the eigenvalues above the edge (outliers) and summarizes both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["BulkOutliers", "bulk_outliers"]


@dataclass(frozen=True)
class BulkOutliers:
    """One spectrum split at ``edge``.

    Attributes:
        edge: eigenvalues > edge are outliers, the rest the bulk.
        n_outliers: how many eigenvalues are above the edge.
        outlier_mean: their mean (None when there are none).
        bulk_max: the largest eigenvalue at or below the edge (None when there is none).
    """

    edge: float
    n_outliers: int
    outlier_mean: float | None
    bulk_max: float | None


def bulk_outliers(eigs: object, edge: float) -> BulkOutliers:
    """Split one spectrum into the bulk (<= edge) and the outliers (> edge).

    Args:
        eigs: (P,) eigenvalues in any order (a (1, P) row is accepted), torch or numpy.
        edge: a finite number.

    Returns:
        BulkOutliers.

    Raises:
        ValueError: for more than one row, no eigenvalues, NaN or infinity, or a
            non-finite edge.
    """
    if isinstance(edge, bool) or not isinstance(edge, (int, float)) or not math.isfinite(edge):
        raise ValueError(f"edge must be a finite number, got {edge!r}.")
    if isinstance(eigs, torch.Tensor):
        eigs = eigs.detach().cpu().to(torch.float64).numpy()
    e = np.asarray(eigs, dtype=np.float64)
    if e.ndim == 2 and e.shape[0] == 1:
        e = e[0]
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"eigs has shape {e.shape}; expected one row (P,) of eigenvalues.")
    if not np.isfinite(e).all():
        raise ValueError("eigs contains NaN or infinite values; the spectrum was not computed.")
    out, bulk = e[e > edge], e[e <= edge]
    return BulkOutliers(
        edge=float(edge),
        n_outliers=int(out.size),
        outlier_mean=float(out.mean()) if out.size else None,
        bulk_max=float(bulk.max()) if bulk.size else None,
    )
