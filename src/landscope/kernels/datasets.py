"""Point sets for kernel studies: uniform on the sphere, scikit-learn's digits, or a file.

Every loader returns an (n, d) float64 tensor, or raises ValueError with one sentence.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["digits", "load_points", "sphere"]

DIGITS_N = 1797  # rows of scikit-learn's load_digits


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def sphere(
    n: int, d: int, *, seed: int = 0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n points uniform on the unit sphere of R^d: Gaussian rows, normalized.

    The rows are ``torch.randn(n, d, dtype=float64, generator=g)`` divided by their
    norms, g = ``generator`` or ``torch.Generator().manual_seed(seed)``: with probability
    one no two are parallel (for d >= 2), so ReLU's H-infinity is positive definite.
    """
    n, d = _positive("n", n), _positive("d", d)
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    X = torch.randn(n, d, dtype=torch.float64, generator=gen)
    return X / torch.linalg.vector_norm(X, dim=1, keepdim=True)


def _unit_rows(X: torch.Tensor, what: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    if bool((norms == 0).any()):
        row = int(torch.nonzero(norms.flatten() == 0)[0])
        raise ValueError(f"row {row} of {what} is zero and cannot be normalized.")
    return X / norms


def digits(n: int | None = None, *, normalize: bool = True) -> torch.Tensor:
    """The first n of scikit-learn's 8 x 8 digit images as rows (n, 64), unit norm.

    Raises:
        ValueError: n not in 1..1797, or scikit-learn is not installed.
    """
    n = DIGITS_N if n is None else _positive("n", n)
    if n > DIGITS_N:
        raise ValueError(f"the digits data set has {DIGITS_N} images; got n = {n}.")
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ValueError(
            "the digits data set needs scikit-learn; install it with pip install scikit-learn."
        ) from err
    X = torch.as_tensor(load_digits().data[:n], dtype=torch.float64)
    return _unit_rows(X, "the digits") if normalize else X


def load_points(path: str | Path, n: int | None = None) -> torch.Tensor:
    """An (n, d) array from a ``.npy`` file or a comma-separated ``.csv`` file of numbers.

    Args:
        path: the file.
        n: keep the first n rows (default: all).

    Raises:
        ValueError: the file is missing or unreadable, not 2-D, empty, holds NaN or
            infinity, has fewer than n rows, or its suffix is neither .npy nor .csv.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise ValueError(f"data file {str(p)!r} must end in .npy or .csv.")
    if not p.is_file():
        raise ValueError(f"data file {str(p)!r} does not exist.")
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            with warnings.catch_warnings():  # an empty file: reported below as one sentence
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=2)
        arr = np.asarray(arr, dtype=np.float64)
    except (OSError, ValueError, TypeError) as err:
        reason = str(err).strip().rstrip(".").splitlines()[0] if str(err).strip() else "unknown"
        raise ValueError(f"could not read {str(p)!r} as an array of numbers ({reason}).") from err
    if arr.ndim != 2:
        raise ValueError(f"{str(p)!r} holds an array of shape {arr.shape}; expected (n, d).")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{str(p)!r} holds an empty array of shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{str(p)!r} contains NaN or infinite values.")
    if n is not None:
        n = _positive("n", n)
        if n > arr.shape[0]:
            raise ValueError(f"{str(p)!r} has {arr.shape[0]} rows; asked for n = {n}.")
        arr = arr[:n]
    return torch.from_numpy(np.ascontiguousarray(arr))
