"""Kernel ridge regression with an infinite-width kernel, batched over runs.

For B data sets at once (rows of a batch: each run its own sample X_b (n, d), labels
y_b (n,) and test points Xt_b (nt, d)), with K the ``ntk_gram`` kernel of the activation
and ``kind`` and s = mean_i K_ii its mean diagonal:

    K~(x, x') = K(x, x') + s                       (``constant=True``; else K~ = K)
    alpha      = (K~(X, X) + lam s I)^(-1) y
    f(x)       = K~(x, X) alpha

The constant kernel s is there because the ReLU kernels are positively homogeneous (every
function f of their space has f(t x) = t f(x) for t > 0), so without it they cannot fit a
mean; centering y instead would not do, the subtracted constant being outside the space
too. The ridge is relative to s, so one grid serves kernels of every scale.

Ridge selection (hold-out): the last h = max(1, round(``holdout`` n)) samples of each run
are held out, the model is fit on the first n - h for every lam in ``ridges``, and the lam
with the smallest mean squared error on the hold-out is chosen per run (the first of
equal ones); the model is then refit on all n samples with that ridge. The prediction at
the test points is computed ``chunk`` points at a time (the cross kernel is (nt, n) per
run). All in float64. This is the protocol of the beyond-ntk study (Li, Ma & Zhang,
COLT 2020), where the kernel methods are the NTK and NNGP of a two-layer ReLU net.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import activations as acts
from ..activations.dual import CLOSED_FORMS, closed_form
from .analytic import DEFAULT_KIND, ntk_cross, ntk_gram

__all__ = ["CHUNK", "HOLDOUT", "RIDGES", "RidgeFit", "kernel_ridge"]

RIDGES: tuple[float, ...] = tuple(10.0**e for e in range(-9, 2))
"""Default ridge grid, relative to the mean diagonal s: 1e-9 .. 10."""
HOLDOUT = 0.2
"""Default fraction of each run's samples held out to choose the ridge."""
CHUNK = 1024
"""Default test points per cross-kernel block."""


@dataclass(frozen=True)
class RidgeFit:
    """Kernel ridge regression of B runs.

    Attributes:
        pred: predictions at the test points (B, nt).
        ridge: the chosen ridge lam s added to the diagonal, per run (B,).
        scale: s, the mean diagonal of each run's kernel K (B,) (before the constant).
        holdout_mse: hold-out mean squared error of each ridge of the grid (B, G).
        ridges: the grid (relative to s), G values.
    """

    pred: torch.Tensor
    ridge: torch.Tensor
    scale: torch.Tensor
    holdout_mse: torch.Tensor
    ridges: tuple[float, ...]


def _check(X: object, y: object, Xt: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    X, y, Xt = (torch.as_tensor(a) for a in (X, y, Xt))
    if X.dim() != 3:
        raise ValueError(
            f"X has shape {tuple(X.shape)}; expected (B, n, d) (X[None] for one data set)."
        )
    B, n, d = X.shape
    if n < 2:
        raise ValueError(f"kernel ridge needs n >= 2 samples (one to fit, one held out), got {n}.")
    if tuple(y.shape) != (B, n):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({B}, {n}) to match X.")
    if Xt.dim() != 3 or Xt.shape[0] != B or Xt.shape[2] != d:
        raise ValueError(f"Xt has shape {tuple(Xt.shape)}; expected ({B}, nt, {d}) to match X.")
    for name, a in (("X", X), ("y", y), ("Xt", Xt)):
        if not bool(torch.isfinite(a).all()):
            raise ValueError(f"{name} contains NaN or infinite values.")
    f64 = torch.float64
    return X.to(f64), y.to(dtype=f64, device=X.device), Xt.to(dtype=f64, device=X.device)


def kernel_ridge(
    X: object,
    y: object,
    Xt: object,
    *,
    activation: str | acts.Activation = "relu",
    kind: str = DEFAULT_KIND,
    depth: int = 1,
    constant: bool = True,
    ridges: tuple[float, ...] = RIDGES,
    holdout: float = HOLDOUT,
    chunk: int = CHUNK,
) -> RidgeFit:
    """Kernel ridge predictions at Xt for B runs, the ridge chosen on a hold-out.

    See the module docstring for the estimator and the selection rule.

    Args:
        X: training inputs (B, n, d).
        y: training labels (B, n).
        Xt: test inputs (B, nt, d).
        activation, kind, depth: the kernel, with the defaults of ``ntk_gram`` and
            ``ntk_cross`` (an activation with a closed-form cross kernel).
        constant: add the constant kernel s (needed to fit a mean with a homogeneous
            kernel).
        ridges: the grid of lam, relative to s (positive, at least one).
        holdout: fraction of the samples held out for the choice, in (0, 1).
        chunk: test points per cross-kernel block (memory: B chunk n numbers).

    Returns:
        RidgeFit with predictions (B, nt) and per-run ridges.

    Raises:
        ValueError: for inputs of the wrong shape or with NaN or infinity, n < 2, an empty
            or non-positive grid, holdout outside (0, 1), chunk < 1, or a kernel
            ``ntk_cross`` does not have.
    """
    X, y, Xt = _check(X, y, Xt)
    ridges = tuple(float(r) for r in ridges)
    if not ridges or not all(r > 0 and r < float("inf") for r in ridges):
        raise ValueError(f"ridges must be positive finite numbers, at least one; got {ridges!r}.")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction in (0, 1), got {holdout!r}.")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}.")
    act = acts.get(activation)
    if closed_form(act) is None:  # checked before the Gram matrix, not at the prediction
        raise ValueError(
            f"kernel_ridge needs a closed-form kernel ({', '.join(CLOSED_FORMS)}) for the "
            f"test points; {act.name!r} has none."
        )
    B, n, _ = X.shape
    K = ntk_gram(X, act, kind, depth)
    scale = torch.diagonal(K, dim1=1, dim2=2).mean(1)  # (B,)
    shift = scale[:, None, None] if constant else 0.0
    K = K + shift
    n_fit = n - max(1, int(round(holdout * n)))
    if n_fit < 1:
        raise ValueError(f"holdout {holdout} leaves no sample of {n} to fit on.")
    Kf, Kv = K[:, :n_fit, :n_fit], K[:, n_fit:, :n_fit]
    yf, yv = y[:, :n_fit], y[:, n_fit:]
    eye_f = torch.eye(n_fit, dtype=K.dtype, device=K.device)
    errs = []
    for lam in ridges:  # a dozen batched solves; one eigh would round differently
        alpha = torch.linalg.solve(Kf + (lam * scale)[:, None, None] * eye_f, yf[..., None])
        errs.append(((Kv @ alpha)[..., 0] - yv).square().mean(1))
    mse = torch.stack(errs, 1)  # (B, G)
    best = mse.argmin(1)
    grid = torch.tensor(ridges, dtype=K.dtype, device=K.device)
    lam = grid[best] * scale
    eye = torch.eye(n, dtype=K.dtype, device=K.device)
    alpha = torch.linalg.solve(K + lam[:, None, None] * eye, y[..., None])
    preds = []
    for start in range(0, Xt.shape[1], chunk):
        Kt = ntk_cross(Xt[:, start : start + chunk], X, act, kind, depth) + shift
        preds.append((Kt @ alpha)[..., 0])
    pred = torch.cat(preds, 1) if preds else Xt.new_zeros(B, 0)
    return RidgeFit(pred=pred, ridge=lam, scale=scale, holdout_mse=mse, ridges=ridges)
