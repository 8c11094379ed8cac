"""Kernel ridge regression (``landscope.kernels.kernel_ridge``) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge

from _tolerances import assert_close
from landscope.kernels import RidgeFit, kernel_ridge, ntk_cross, ntk_gram
from landscope.kernels.ridge import HOLDOUT, RIDGES

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _data(B: int = 3, n: int = 60, nt: int = 50, d: int = 4, seed: int = 0):
    """B runs of f(x) = mean_j |w_j . x| plus noise: a target the ridge must trade off."""
    g = _gen(seed)
    X = torch.randn(B, n, d, generator=g, dtype=DT)
    Xt = torch.randn(B, nt, d, generator=g, dtype=DT)
    W = torch.randn(B, d, d, generator=g, dtype=DT)
    y = (X @ W.transpose(1, 2)).abs().mean(-1) + 0.05 * torch.randn(B, n, generator=g, dtype=DT)
    return X, y, Xt


def _sklearn(X, y, Xt, kind: str, constant: bool, ridge_index: int):
    """One run by scikit-learn's KernelRidge on the precomputed kernel (a Cholesky solve):
    hold-out errors of every ridge of the grid, and the predictions refit on all samples
    with the grid's ``ridge_index``-th ridge."""
    K = ntk_gram(X, "relu", kind).numpy()
    s = float(np.diag(K).mean())
    shift = s if constant else 0.0
    K = K + shift
    Kt = ntk_cross(Xt, X, "relu", kind).numpy() + shift
    y = y.numpy()
    n = K.shape[0]
    n_fit = n - max(1, round(HOLDOUT * n))
    mse = []
    for lam in RIDGES:
        kr = KernelRidge(alpha=lam * s, kernel="precomputed").fit(K[:n_fit, :n_fit], y[:n_fit])
        mse.append(np.mean((kr.predict(K[n_fit:, :n_fit]) - y[n_fit:]) ** 2))
    kr = KernelRidge(alpha=RIDGES[ridge_index] * s, kernel="precomputed").fit(K, y)
    return s, np.array(mse), kr.predict(Kt)


@pytest.mark.parametrize("kind", ["ntk", "nngp", "h_inf"])
@pytest.mark.parametrize("constant", [True, False], ids=["constant", "no-constant"])
def test_against_sklearn_kernel_ridge(kind: str, constant: bool) -> None:
    """Per run: the hold-out errors of the whole grid, the rule (the smallest of them), the
    ridge and the predictions, against KernelRidge(kernel="precomputed") on the same kernel.

    Tolerances: the hold-out errors at the smallest ridges (1e-9 s: condition numbers up to
    ~1e11) differ by LU vs Cholesky rounding, measured 2e-12 relative; bound 1e-8. The
    predictions with the chosen ridge, measured 8e-14 of max |pred|; bound 1e-10. The
    choice is compared where it is robust to such rounding: the reference's error at the
    chosen ridge is its smallest to 1e-8 (near-ties happen among the smallest ridges,
    which all give about the interpolant).
    """
    X, y, Xt = _data()
    fit = kernel_ridge(X, y, Xt, kind=kind, constant=constant)
    assert isinstance(fit, RidgeFit) and fit.ridges == RIDGES
    B, G = X.shape[0], len(RIDGES)
    assert fit.pred.shape == (B, Xt.shape[1]) and fit.pred.dtype == DT
    assert fit.ridge.shape == fit.scale.shape == (B,)
    assert fit.holdout_mse.shape == (B, G)
    for b in range(B):
        best = int(fit.holdout_mse[b].argmin())
        s, mse, pred = _sklearn(X[b], y[b], Xt[b], kind, constant, best)
        assert_close(fit.scale[b], np.float64(s), what=f"scale, run {b}")
        assert_close(fit.holdout_mse[b], mse, rtol=1e-8, atol=0, what=f"hold-out, run {b}")
        assert mse[best] <= mse.min() * (1 + 1e-8), f"run {b}: ridge {best} is not the best"
        assert_close(fit.ridge[b], np.float64(RIDGES[best] * s), what=f"ridge, run {b}")
        atol = 1e-10 * float(np.abs(pred).max())
        assert_close(fit.pred[b], pred, rtol=0, atol=atol, what=f"predictions, run {b}")


def test_batched_chunked_and_alone_agree() -> None:
    """Runs in one batch = each run alone, and the prediction does not depend on the
    chunk (same kernel entries, products of other shapes): default float64 tolerances."""
    X, y, Xt = _data(seed=1)
    fit = kernel_ridge(X, y, Xt, kind="ntk")
    small = kernel_ridge(X, y, Xt, kind="ntk", chunk=7)
    assert_close(small.pred, fit.pred, what="chunk 7 vs 1024")
    for b in range(X.shape[0]):
        alone = kernel_ridge(X[b : b + 1], y[b : b + 1], Xt[b : b + 1], kind="ntk")
        assert_close(alone.pred[0], fit.pred[b], what=f"run {b} alone")
        assert_close(alone.ridge[0], fit.ridge[b], what=f"ridge of run {b} alone")


def test_grid_and_holdout_settings() -> None:
    """A grid of one ridge and a hold-out of half the samples, against a dense numpy solve:
    fit on samples 0..29 of 60, error on 30..59, refit on all (default tolerances)."""
    X, y, Xt = _data(B=1, seed=2)
    fit = kernel_ridge(X, y, Xt, kind="ntk", ridges=(1e-3,), holdout=0.5)
    assert fit.ridges == (1e-3,) and fit.holdout_mse.shape == (1, 1)
    K = ntk_gram(X[0], "relu", "ntk").numpy()
    s = np.diag(K).mean()
    K, Kt = K + s, ntk_cross(Xt[0], X[0], "relu", "ntk").numpy() + s
    lam, yy = 1e-3 * s, y[0].numpy()
    a = np.linalg.solve(K[:30, :30] + lam * np.eye(30), yy[:30])
    mse = np.mean((K[30:, :30] @ a - yy[30:]) ** 2)
    pred = Kt @ np.linalg.solve(K + lam * np.eye(60), yy)
    assert_close(fit.holdout_mse[0, 0], np.float64(mse), what="hold-out error")
    assert_close(fit.ridge[0], np.float64(lam), what="the one ridge")
    assert_close(fit.pred[0], pred, atol=1e-12 * float(np.abs(pred).max()), what="predictions")


def test_interpolates_a_function_in_the_rkhs() -> None:
    """A target that is a finite kernel expansion plus a constant is recovered: test error
    far below its variance (the hold-out picks a small ridge). Measured 1e-5 relative
    (200 points in R^3: the interpolant of a smooth RKHS function); bound 1e-3."""
    gen = _gen(1)
    X = torch.randn(1, 200, 3, generator=gen, dtype=DT)
    Xt = torch.randn(1, 300, 3, generator=gen, dtype=DT)
    centers = torch.randn(1, 5, 3, generator=gen, dtype=DT)
    w = torch.randn(1, 5, 1, generator=gen, dtype=DT)
    y = (ntk_cross(X, centers, "relu", "ntk") @ w)[..., 0] + 0.7
    yt = (ntk_cross(Xt, centers, "relu", "ntk") @ w)[..., 0] + 0.7
    fit = kernel_ridge(X, y, Xt, kind="ntk")
    assert fit.pred.shape == (1, 300) and fit.ridge.shape == (1,)
    assert float((fit.pred - yt).square().mean()) < 1e-3 * float(yt.var())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda X, y, Xt: (X[0], y, Xt), "expected \\(B, n, d\\)"),
        (lambda X, y, Xt: (X, y[:, :-1], Xt), "y has shape"),
        (lambda X, y, Xt: (X, y, Xt[..., :2]), "Xt has shape"),
        (lambda X, y, Xt: (X[:, :1], y[:, :1], Xt), "n >= 2"),
        (lambda X, y, Xt: (X, y * float("nan"), Xt), "y contains NaN"),
    ],
    ids=["unbatched", "y", "Xt", "one-sample", "nan"],
)
def test_bad_inputs(change, words) -> None:
    X, y, Xt = _data(B=2, n=10, nt=5)
    with pytest.raises(ValueError, match=words):
        kernel_ridge(*change(X, y, Xt))


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"ridges": ()}, "ridges must be positive"),
        ({"ridges": (1e-3, 0.0)}, "ridges must be positive"),
        ({"holdout": 1.0}, "holdout must be a fraction"),
        ({"holdout": 0.95}, "leaves no sample"),
        ({"chunk": 0}, "chunk must be a positive integer"),
        ({"activation": "tanh"}, "closed-form kernel"),
    ],
    ids=["empty-grid", "zero-ridge", "holdout-1", "holdout-all", "chunk", "no-cross-kernel"],
)
def test_bad_settings(kw, words) -> None:
    X, y, Xt = _data(B=1, n=10, nt=5)
    with pytest.raises(ValueError, match=words):
        kernel_ridge(X, y, Xt, **kw)
