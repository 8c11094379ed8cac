"""One-dimensional interpolation sets for the univariate ReLU study (Williams et al. 2019).

Each returns x (n,) increasing in [-1, 1] (both ends included) and y (n,), float64, as a
function of its arguments and ``seed`` alone:

- ``alternating``: n equally spaced points, y = +-1/2 alternating (the hardest target for
  a smooth interpolant: the cubic and linear splines differ most);
- ``smooth``: y = sin(3 x) at uneven points: the equally spaced grid with its interior
  points moved by up to 0.2 of the spacing (uniform, seeded).
"""

from __future__ import annotations

import torch

from ._checks import positive_int

__all__ = ["UNIVARIATE_SETS", "univariate_set"]

UNIVARIATE_SETS = ("alternating", "smooth")


def univariate_set(kind: str, n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n,), y (n,)) of the named kind.

    Raises:
        ValueError: unknown kind, n not an integer >= 3.
    """
    if kind not in UNIVARIATE_SETS:
        raise ValueError(f"unknown data {kind!r}; choose one of {', '.join(UNIVARIATE_SETS)}.")
    n = positive_int("n", n)
    if n < 3:
        raise ValueError(f"n must be at least 3 points, got {n}.")
    x = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    if kind == "alternating":
        y = 0.5 * torch.tensor([(-1.0) ** j for j in range(n)], dtype=torch.float64)
        return x, y
    g = torch.Generator().manual_seed(int(seed))
    jitter = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 0.2 * (2 / (n - 1))
    jitter[0] = jitter[-1] = 0.0
    x = x + jitter
    return x, torch.sin(3 * x)
