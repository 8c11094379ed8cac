"""The polynomial regression of Freeman & Bruna (ICLR 2017): y = x^p at points of [0, 1]."""

from __future__ import annotations

import torch

from ._checks import positive_int

__all__ = ["polynomial"]


def polynomial(n: int, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n equally spaced inputs x_i = i / (n - 1) of [0, 1] and targets y_i = x_i^degree.

    Freeman & Bruna fit a 1-w-w-1 network to y = x^2 and y = x^3 on [0, 1] to compare
    level sets of easy and harder regressions; ``landscope.studies.level_sets`` uses
    n = 20. With n = 1 the one input is x = 0.

    Args:
        n: number of points.
        degree: the power p (>= 1).

    Returns:
        (x, y), each (n, 1) float64 on the CPU.

    Raises:
        ValueError: n or degree is not a positive integer.
    """
    n, degree = positive_int("n", n), positive_int("degree", degree)
    x = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    return x, x**degree
