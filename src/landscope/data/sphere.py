"""Points uniform on the unit sphere of R^d."""

from __future__ import annotations

import torch

from ._checks import positive_int

__all__ = ["sphere"]


def sphere(
    n: int, d: int, *, seed: int = 0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n points uniform on the unit sphere of R^d: Gaussian rows, normalized.

    The rows are ``torch.randn(n, d, dtype=float64, generator=g)`` divided by their
    norms, g = ``generator`` or ``torch.Generator().manual_seed(seed)`` (a Gaussian
    vector's direction is uniform on the sphere, as its density depends on the norm
    only). With probability one no two rows are parallel (for d >= 2), so ReLU's
    H-infinity on them is positive definite.

    Args:
        n: number of points.
        d: dimension of the ambient space.
        seed: seeds a fresh generator when ``generator`` is None.
        generator: draws the points (then ``seed`` is unused).

    Returns:
        (n, d) float64 tensor on the CPU, rows of unit norm.

    Raises:
        ValueError: n or d is not a positive integer.
    """
    n, d = positive_int("n", n), positive_int("d", d)
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    X = torch.randn(n, d, dtype=torch.float64, generator=gen)
    return X / torch.linalg.vector_norm(X, dim=1, keepdim=True)
