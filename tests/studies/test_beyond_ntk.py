"""The beyond-ntk study: the target, kernel ridge, a small cell and the summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope.studies import RunContext, get_study
from landscope.studies.beyond_ntk import STUDY, kernel_ridge, run_cell, summarize, target

BASE = {p.name: p.default[0] for p in STUDY.params}
DT = torch.float64


def test_registered_with_default_grid() -> None:
    assert get_study("beyond-ntk").name == "beyond-ntk"
    assert [c["d"] for c in STUDY.cells()] == [4, 8, 12, 16]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [({"optimizer": ["sgd"]}, "optimizer must be one of adam, gd"), ({"d": [1]}, "d must be >= 2"),
     ({"lr": [0.0]}, "lr must be a positive number")],
)  # fmt: skip
def test_validation_errors(overrides, words) -> None:
    with pytest.raises(ValueError, match=words):
        STUDY.cells(overrides)


def test_target_and_its_variance() -> None:
    """f* = (1/d) sum_j |w*_j . x|: Var f* = (1 - 2/pi) / d for orthonormal W*; the study's
    no-learning reference 1/2 Var f* is checked against 4e5 samples within 5 standard
    errors (the variance of a sample variance estimated from the fourth moment)."""
    d = 6
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=DT))
    X = torch.randn(400_000, d, generator=gen, dtype=DT)
    f = target(X, Q)
    assert f.shape == (400_000,)
    assert torch.equal(target(X[:3], Q), (X[:3] @ Q.T).abs().mean(1))
    c = f - f.mean()
    se = float(((c**4).mean() - (c**2).mean() ** 2).sqrt()) / math.sqrt(X.shape[0])
    assert abs(float(c.square().mean()) - (1 - 2 / math.pi) / d) < 5 * se


def test_kernel_ridge_interpolates_a_function_in_the_rkhs() -> None:
    """A target that is a finite kernel expansion plus a constant is recovered: test error
    far below its variance (the hold-out picks a small ridge). Measured 1e-5 relative
    (200 points in R^3: the interpolant of a smooth RKHS function); bound 1e-3."""
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(1, 200, 3, generator=gen, dtype=DT)
    Xt = torch.randn(1, 300, 3, generator=gen, dtype=DT)
    centers = torch.randn(1, 5, 3, generator=gen, dtype=DT)
    from landscope.kernels import ntk_cross

    w = torch.randn(1, 5, 1, generator=gen, dtype=DT)
    y = (ntk_cross(X, centers, "relu", "ntk") @ w)[..., 0] + 0.7
    yt = (ntk_cross(Xt, centers, "relu", "ntk") @ w)[..., 0] + 0.7
    pred, lam = kernel_ridge(X, y, Xt, "ntk")
    assert pred.shape == (1, 300) and lam.shape == (1,)
    assert float((pred - yt).square().mean()) < 1e-3 * float(yt.var())


def test_small_cell_rows_and_summary() -> None:
    cfg = BASE | {"d": 3, "n_factor": 6.0, "steps": 200, "n_test": 500}
    rows = run_cell(cfg, [0, 1], RunContext())
    assert [r["seed"] for r in rows] == [0, 1]
    for r in rows:
        assert set(STUDY.columns) <= set(r)
        assert r["n"] == 54 and r["m"] == 12
        assert r["constant_loss"] == pytest.approx((1 - 2 / math.pi) / 6, rel=1e-15)
        for key in ("nn_loss", "ntk_loss", "nngp_loss"):
            assert np.isfinite(r[key]) and r[key] >= 0 and r[key + "_se"] > 0
        # the net fits its training set better than its initial (zero) prediction does
        assert r["nn_train_loss"] < r["constant_loss"]
    # batched over seeds = each seed alone
    alone = run_cell(cfg, [1], RunContext())[0]
    for key in ("nn_loss", "ntk_loss", "nngp_loss"):
        assert alone[key] == pytest.approx(rows[1][key], rel=1e-9)
    (s,) = summarize([r | cfg for r in rows])
    assert s["seeds"] == 2 and s["d_ntk_loss"] == pytest.approx(3 * s["ntk_loss"])
    assert s["ntk_over_nn"] == pytest.approx(s["ntk_loss"] / s["nn_loss"])
