"""User data from a file: an (n, d) array of numbers in a ``.npy`` or ``.csv`` file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ._checks import positive_int

__all__ = ["load_points"]


def load_points(path: str | Path, n: int | None = None) -> torch.Tensor:
    """An (n, d) array from a ``.npy`` file or a comma-separated ``.csv`` file of numbers.

    Args:
        path: the file.
        n: keep the first n rows (default: all).

    Returns:
        (n, d) float64 tensor on the CPU, the file's values exactly.

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
        n = positive_int("n", n)
        if n > arr.shape[0]:
            raise ValueError(f"{str(p)!r} has {arr.shape[0]} rows; asked for n = {n}.")
        arr = arr[:n]
    return torch.from_numpy(np.ascontiguousarray(arr))
