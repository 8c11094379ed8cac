"""The acceptance test shared by the batched backtracking line searches."""

from __future__ import annotations

import torch


def armijo_accepts(
    trial_loss: torch.Tensor,
    loss: torch.Tensor,
    t: torch.Tensor,
    slope: torch.Tensor,
    trial: torch.Tensor,
    theta: torch.Tensor,
    c1: float,
) -> torch.Tensor:
    """Rows whose trial point is finite, decreases F enough and actually moves.

    Sufficient decrease: F(theta + t d) <= F(theta) + c1 t slope, slope = g'd < 0. The
    point must move: once F no longer resolves a decrease in floating point, halving t
    ends in a null step theta + t d == theta that Armijo (with equality) would accept
    forever; such a row is stuck instead.
    """
    return (
        torch.isfinite(trial_loss) & (trial_loss <= loss + c1 * t * slope) & (trial != theta).any(1)
    )
