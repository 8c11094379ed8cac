"""Data owned by the rows: one sample shared by every row, or one sample per row.

Shared by the problems that fit a network to data (``TwoLayerRegression``,
``ReluWeightDecay``): the check of (X, y), and ``select`` / ``as_batch``, the ``RowData``
capability the driver uses to keep rows and data aligned when it compacts its batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validate import as_param_batch, check_finite

__all__ = ["RowSamples", "row_samples"]


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def row_samples(X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(X (R, n, d), y (R, n), shared) from X (n, d), y (n,) or X (R, n, d), y (R, n).

    Raises:
        ValueError: non-floating X, shapes that do not fit, no samples or no features,
            NaN or infinity.
    """
    X0, y0 = torch.as_tensor(X), torch.as_tensor(y)
    if not X0.is_floating_point():
        raise ValueError(f"X must hold floating-point numbers, got {X0.dtype}.")
    shared = X0.dim() == 2
    Xb, yb = (X0[None], y0[None]) if shared else (X0, y0)
    if Xb.dim() != 3 or yb.dim() != 2 or tuple(yb.shape) != tuple(Xb.shape[:2]):
        raise ValueError(
            f"X {tuple(X0.shape)} and y {tuple(y0.shape)} do not fit: need X (n, d) and "
            "y (n,), or X (R, n, d) and y (R, n)."
        )
    if Xb.shape[1] < 1 or Xb.shape[2] < 1:
        raise ValueError(f"X has shape {tuple(X0.shape)}; give n >= 1 samples and d >= 1.")
    check_finite("X", Xb)
    yb = yb.to(dtype=Xb.dtype, device=Xb.device)
    check_finite("y", yb)
    return Xb, yb, shared


@dataclass(frozen=True, eq=False)
class RowSamples:
    """``select``, ``as_batch`` and the theta check for a frozen problem with X, y, shared.

    The problem defines ``split``.
    """

    X: torch.Tensor = field(init=False, repr=False)
    y: torch.Tensor = field(init=False, repr=False)
    shared: bool = field(init=False)
    n: int = field(init=False)
    d: int = field(init=False)
    n_params: int = field(init=False)
    dtype: torch.dtype = field(init=False, repr=False)
    device: torch.device = field(init=False, repr=False)

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover
        raise NotImplementedError

    def select(self, rows: torch.Tensor):
        """The same problem for runs ``rows`` only (itself when the data are shared)."""
        if self.shared:
            return self
        out = object.__new__(type(self))  # no re-validation: the driver's hot path
        out.__dict__.update(self.__dict__)
        object.__setattr__(out, "X", self.X[rows])
        object.__setattr__(out, "y", self.y[rows])
        return out

    def _store_samples(self, X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Check (X, y) and ``width``; set X, y, shared, n, d, dtype and device."""
        w = getattr(self, "width", 1)
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"width must be a positive integer, got {w!r}.")
        X, y, shared = row_samples(X, y)
        values = {"X": X, "y": y, "shared": shared, "n": int(X.shape[1]), "d": int(X.shape[2])}
        for key, value in {**values, "dtype": X.dtype, "device": X.device}.items():
            object.__setattr__(self, key, value)
        return X, y

    @staticmethod
    def _cat(W: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Neuron blocks W (R, m, k) (row-major) then alpha (R, m) -> rows (R, m k + m)."""
        return torch.cat([W.reshape(W.shape[0], -1), alpha], dim=1)

    def _store_decay(self, beta_why: str = "") -> None:
        """Check and store ``beta`` (> 0), ``init_scale`` (> 0) and ``global_min`` (None, or
        a number >= 0 with shared data), for the weight-decay problems."""
        set_ = object.__setattr__
        beta = self.beta
        if not (_number(beta) and beta > 0):
            raise ValueError(f"beta must be a finite number > 0{beta_why}, got {beta!r}.")
        s = self.init_scale
        if not (_number(s) and s > 0):
            raise ValueError(f"init_scale must be a positive number, got {s!r}.")
        gm = self.global_min
        if gm is not None:
            if not (_number(gm) and gm >= 0):
                raise ValueError(f"global_min must be None or a finite number >= 0, got {gm!r}.")
            if not self.shared:
                raise ValueError(
                    "global_min is one optimal value for every row, so it needs one shared "
                    "sample: pass X (n, d) and y (n,)."
                )
            set_(self, "global_min", float(gm))
        set_(self, "beta", float(beta))
        set_(self, "init_scale", float(s))

    def _rows(self, theta: torch.Tensor):
        """``split(theta)`` after checking theta is (R, P), R the rows' count if they own data."""
        ok = theta.dim() == 2 and theta.shape[1] == self.n_params
        if not ok or not (self.shared or theta.shape[0] == self.X.shape[0]):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}; this problem takes "
                f"({'R' if self.shared else self.X.shape[0]}, {self.n_params})."
            )
        return self.split(theta)

    def as_batch(self, theta: object) -> torch.Tensor:
        """A point (P,) or batch (R, P) as (R, P) in the problem's dtype.

        Raises:
            ValueError: for any other shape.
        """
        return as_param_batch(theta, self.n_params, dtype=self.dtype, device=self.device)
