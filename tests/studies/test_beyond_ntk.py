"""The beyond-ntk study: the target, the training, a small cell and the summary.

Kernel ridge itself is tested in tests/kernels/test_ridge.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.kernels.ridge import HOLDOUT, RIDGES
from landscope.optim import GD, Adam
from landscope.studies import RunContext, get_study
from landscope.studies.beyond_ntk import (
    PROTOCOL,
    STUDY,
    TRAIN,
    method,
    ridges,
    run_cell,
    summarize,
    target,
)

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


def test_ridge_grid_and_holdout() -> None:
    # the defaults are kernel_ridge's own
    assert ridges(BASE) == RIDGES and BASE["holdout"] == HOLDOUT
    assert ridges(BASE | {"log10_ridge_min": 2, "log10_ridge_max": 2}) == (100.0,)
    with pytest.raises(ValueError, match="log10_ridge_min \\(2\\) must not exceed"):
        STUDY.cells({"log10_ridge_min": [2], "log10_ridge_max": [1]})
    with pytest.raises(ValueError, match="holdout is a fraction of the samples"):
        STUDY.cells({"holdout": [1.0]})


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


def test_method() -> None:
    adam = method(BASE | {"lr": 0.02, "steps": 50})
    assert isinstance(adam, Adam) and adam.lr == 0.02
    assert adam.schedule is not None and adam.schedule.total_steps == 50
    gd = method(BASE | {"optimizer": "gd", "lr": 0.5})
    assert isinstance(gd, GD) and gd.lr == 0.5 and gd.schedule is None


def _torch_optim_train(cfg: dict, X, y, gens) -> torch.Tensor:
    """The study's training before issue 13, kept as the reference: torch.optim in a loop
    over steps, autograd of the net, all runs as one batch of parameters."""
    R, _, d = X.shape
    m = cfg["width_factor"] * d
    W = torch.stack([torch.randn(m, d, generator=g, dtype=DT) for g in gens])
    b = torch.stack([torch.randn(m, generator=g, dtype=DT) for g in gens])
    W = (W * cfg["init"] / math.sqrt(d)).requires_grad_()
    b = (b * cfg["init"] / math.sqrt(m)).requires_grad_()
    c = torch.zeros(R, 1, dtype=DT, requires_grad=True)
    params = [W, b, c]
    if cfg["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=cfg["lr"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["steps"])
    else:
        opt, sched = torch.optim.SGD(params, lr=cfg["lr"]), None
    for _ in range(cfg["steps"]):
        opt.zero_grad(set_to_none=True)
        f = (torch.relu(X @ W.transpose(1, 2)) @ b[..., None])[..., 0] + c
        (0.5 * (f - y).square().mean(1)).sum().backward()
        opt.step()
        if sched is not None:
            sched.step()
    return torch.cat([W.detach().reshape(R, -1), b.detach(), c.detach()], 1)


def _streams_after_the_data(seeds, d: int, n: int, n_test: int) -> list[torch.Generator]:
    """Each seed's generator past its W* (d x d), sample (n x d) and test sample (n_test x
    d): where the nets' init continues the stream."""
    gens = []
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((d, d), (n, d), (n_test, d)):
            torch.randn(*shape, generator=gen, dtype=DT)
        gens.append(gen)
    return gens


@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 0.03), ("gd", 0.05)])
def test_training_reproduces_the_torch_optim_loop(optimizer: str, lr: float) -> None:
    """The driver with Adam(schedule=cosine_decay) / GD on TwoLayerRegression against the
    torch.optim loop it replaced, 300 steps, same draws. They differ by rounding only
    (Adam's arithmetic order, the lr's recursive vs closed form, autograd vs the closed-form
    gradient): measured 5e-16 of max |theta| (Adam) and 2e-16 (GD); bound 1e-10, as the
    ReLU kinks can amplify rounding over the steps (2e-13 in the losses after 4000 steps
    at d = 8)."""
    cfg = BASE | {"d": 3, "n_factor": 6.0, "steps": 300, "optimizer": optimizer, "lr": lr}
    cfg["n_test"] = 10
    d, n = 3, 54
    cell = PROTOCOL.start(cfg, [0, 1], RunContext())  # the cell's data and initial rows
    X, y = cell.data.X, cell.data.y
    assert X.shape == (2, n, d) and torch.equal(y, target(X, cell.data.Wstar))
    TRAIN(cell)
    got = cell.theta
    want = _torch_optim_train(cfg, X, y, _streams_after_the_data((0, 1), d, n, 10))
    assert got.shape == want.shape == (2, 12 * 3 + 12 + 1)
    assert_close(got, want, rtol=0, atol=1e-10 * float(want.abs().max()), what=optimizer)


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
