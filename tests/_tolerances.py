"""Default test tolerances by dtype, and an ``assert_close`` that reports the worst entries.

Use ``tol(dtype)`` for the defaults. A test that loosens a tolerance passes ``rtol=`` /
``atol=`` explicitly and says why in a comment next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TOL", "Tol", "assert_close", "tol"]


@dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float


TOL: dict[torch.dtype, Tol] = {
    # Two float64 computations of the same quantity in a different order (closed form vs
    # autograd, batched vs one row): rounding is ~1e-16 per operation, amplified by at
    # most a few thousand through sums and the arccos near (anti)parallel pairs.
    torch.float64: Tol(rtol=1e-12, atol=1e-12),
    # float32 against a float64 reference: eps32 = 1.2e-7, times the same amplification.
    torch.float32: Tol(rtol=1e-5, atol=1e-6),
}


def tol(dtype: torch.dtype = torch.float64) -> Tol:
    """The default tolerances for ``dtype``."""
    return TOL[dtype]


def _as_array(x: object) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def assert_close(
    actual: object,
    expected: object,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: torch.dtype = torch.float64,
    what: str = "value",
    worst: int = 5,
) -> None:
    """Assert |actual - expected| <= atol + rtol |expected| entrywise, shapes equal.

    Shapes must match exactly (no broadcasting); with the float64 defaults a float32
    tensor on either side is refused (its rounding would pass for an error). NaN or
    infinity anywhere fails unless both sides hold the same non-finite value. On failure
    the message lists the ``worst`` entries by ratio of error to allowed error.
    """
    d = tol(dtype)
    if dtype == torch.float64:  # a float32 operand would silently cap the precision
        for side, x in (("actual", actual), ("expected", expected)):
            if isinstance(x, torch.Tensor) and x.dtype in (torch.float32, torch.float16):
                raise AssertionError(f"{what}: {side} is {x.dtype}; pass dtype=torch.float32")
    rtol = d.rtol if rtol is None else rtol
    atol = d.atol if atol is None else atol
    a, e = _as_array(actual), _as_array(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected shape {e.shape}")
    same_nonfinite = ~np.isfinite(e) & (a == e)
    bad_nonfinite = (~np.isfinite(a) | ~np.isfinite(e)) & ~same_nonfinite
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(a) & np.isfinite(e), np.abs(a - e), 0.0)
    allowed = atol + rtol * np.where(np.isfinite(e), np.abs(e), 0.0)
    ratio = np.where(bad_nonfinite, np.inf, err / np.maximum(allowed, np.finfo(float).tiny))
    off = (err > allowed) | bad_nonfinite
    if not off.any():
        return
    order = np.argsort(-ratio, axis=None)[:worst]
    lines = [
        f"  {tuple(int(j) for j in np.unravel_index(i, a.shape))}: actual {float(a.flat[i])!r}"
        f", expected {float(e.flat[i])!r}, |diff| {err.flat[i]:.3e}, allowed "
        f"{allowed.flat[i]:.3e}"
        for i in order
        if off.flat[i]
    ]
    raise AssertionError(
        f"{what}: {int(off.sum())} of {a.size} entries differ (rtol={rtol:g}, atol={atol:g}); "
        f"max |diff| {float(err.max()):.3e}; worst:\n" + "\n".join(lines)
    )
