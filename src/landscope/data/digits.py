"""scikit-learn's 8 x 8 handwritten digits (1,797 images of 0..9, pixels in 0..16), float64.

Two views: ``digits(n)`` the first n images as rows of R^64 (unit norm by default, the
point set of ``landscope ntk --data digits``), and ``digit_images(n)`` the first n images
as (n, 1, 8, 8) pixels scaled to [0, 1] with their labels, a classification set for a
small CNN (``landscope.studies.level_sets``). Both read the copy shipped with
scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import positive_int

__all__ = ["DIGITS_N", "DIGITS_LEVELS", "digit_images", "digits"]

DIGITS_N = 1797  # images in scikit-learn's load_digits
DIGITS_LEVELS = 16  # pixels are counts 0..16 (of 4 x 4 blocks of a 32 x 32 bitmap)


def _load(n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first n (default all) rows of load_digits: data (n, 64) and target (n,)."""
    n = DIGITS_N if n is None else positive_int("n", n)
    if n > DIGITS_N:
        raise ValueError(f"the digits data set has {DIGITS_N} images; got n = {n}.")
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ValueError(
            "the digits data set needs scikit-learn; install it with pip install scikit-learn."
        ) from err
    bunch = load_digits()
    return bunch.data[:n], bunch.target[:n]


def _unit_rows(X: torch.Tensor, what: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    if bool((norms == 0).any()):
        row = int(torch.nonzero(norms.flatten() == 0)[0])
        raise ValueError(f"row {row} of {what} is zero and cannot be normalized.")
    return X / norms


def digits(n: int | None = None, *, normalize: bool = True) -> torch.Tensor:
    """The first n digit images as rows (n, 64), float64.

    Args:
        n: number of images (default all 1,797).
        normalize: divide each row by its Euclidean norm (unit rows); False keeps the
            raw pixel counts 0..16.

    Raises:
        ValueError: n not in 1..1797, or scikit-learn is not installed.
    """
    data, _ = _load(n)
    X = torch.as_tensor(data, dtype=torch.float64)
    return _unit_rows(X, "the digits") if normalize else X


def digit_images(n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n digit images with their labels, for classification.

    Args:
        n: number of images (default all 1,797).

    Returns:
        (X, y): X (n, 1, 8, 8) float64, the pixel counts divided by 16 (so in [0, 1],
        exactly: 16 is a power of two), one channel; y (n,) int64 labels 0..9.

    Raises:
        ValueError: n not in 1..1797, or scikit-learn is not installed.
    """
    data, target = _load(n)
    X = torch.as_tensor(data, dtype=torch.float64) / DIGITS_LEVELS
    return X.reshape(-1, 1, 8, 8), torch.as_tensor(target, dtype=torch.int64)
