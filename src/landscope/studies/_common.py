"""Steps the studies share: polish-then-certify, and means that skip missing values."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..critical import Certificate, certify
from ..optim import newton_polish
from ..problems import Problem

__all__ = ["by_cell", "mean_finite", "polish_and_certify"]


def polish_and_certify(
    problem: Problem,
    theta: torch.Tensor,
    polish_from: float,
    *,
    skip: torch.Tensor | None = None,
    global_spectrum: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, Certificate]:
    """Newton-polish the rows with ||grad|| <= polish_from, then certify every row.

    ``skip`` (R,) bool marks rows not to polish (e.g. already at the global value);
    ``global_spectrum`` is passed to ``certify``.

    Returns:
        (float64 rows after polishing, Newton iterations per row, the certificate).
    """
    theta = theta.to(torch.float64).clone()
    gn = torch.linalg.vector_norm(problem.grad(theta), dim=1)
    polish = torch.isfinite(gn) & (gn <= polish_from)
    if skip is not None:
        polish = polish & ~skip.to(polish.device)
    iters = torch.zeros(theta.shape[0], dtype=torch.long)
    if bool(polish.any()):
        pol = newton_polish(problem, theta[polish])
        theta[polish] = pol.theta
        iters[polish.cpu()] = pol.iters.cpu()
    return theta, iters, certify(problem, theta, global_spectrum=global_spectrum)


def mean_finite(values: list[float | None]) -> float | None:
    """Mean of the finite values; None when there are none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def by_cell(rows: list[dict]) -> list[list[dict]]:
    """Stored rows grouped by ``config_hash`` (one list per cell, first-seen order)."""
    cells: dict[str, list[dict]] = {}
    for row in rows:
        cells.setdefault(row["config_hash"], []).append(row)
    return list(cells.values())
