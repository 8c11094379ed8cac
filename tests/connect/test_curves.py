"""Bezier curves and polygonal chains fitted between two minima (Garipov et al. 2018)."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.connect.curves import bezier_points, chain_points, fit_bezier, fit_chain
from landscope.connect.interpolate import linear_path
from landscope.optim import LBFGS, Stop, run
from landscope.problems import ModuleLoss, MuellerBrown

F64 = torch.float64


@pytest.fixture(scope="module")
def mlp_minima():
    """Two minima (loss ~1e-4) of a 1-8-8-1 tanh net on sin(2x), from different inits."""
    torch.manual_seed(0)  # the module's own init is never used
    model = torch.nn.Sequential(
        torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
        torch.nn.Linear(8, 1),
    )  # fmt: skip
    X = torch.linspace(-2, 2, 24, dtype=F64)[:, None]
    prob = ModuleLoss(model, X, torch.sin(2 * X))
    ab = run(
        prob,
        prob.init(2, generator=torch.Generator().manual_seed(1)),
        LBFGS(),
        stop=Stop(max_steps=150),
    )
    return prob, ab.theta[0], ab.theta[1]


def test_curve_formulas():
    g = torch.Generator().manual_seed(0)
    a, c, b = torch.randn(3, 4, generator=g, dtype=F64)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=F64)
    bz = bezier_points(a, c, b, t)
    assert_close(bz[0], a, what="start")
    assert_close(bz[-1], b, what="end")
    assert_close(bz[2], 0.25 * a + 0.5 * c + 0.25 * b, what="gamma(1/2)")
    ch = chain_points(a, c, b, t)
    assert_close(ch[[0, 2, 3]], torch.stack([a, c, b]), what="chain vertices")
    assert_close(ch[1], 0.5 * (a + c), what="chain at t = 1/4")


def test_mlp_bezier_and_chain_are_below_the_line(mlp_minima):
    prob, A, B = mlp_minima
    line = linear_path(prob, A, B)
    kw = {"steps": 200, "lr": 0.02, "samples": 16}
    bz = fit_bezier(prob, A, B, generator=torch.Generator().manual_seed(0), **kw)
    ch = fit_chain(prob, A, B, generator=torch.Generator().manual_seed(0), **kw)
    assert (bz.method, bz.status) == ("bezier", "connected")
    assert (ch.method, ch.status) == ("chain", "connected")
    assert bz.beads.shape == (33, prob.n_params)
    assert torch.equal(bz.beads[0], A) and torch.equal(bz.beads[-1], B)
    assert_close(bz.bead_loss, prob.loss(bz.beads), what="bead losses")
    assert bz.max_loss < 0.1 * line.max_loss  # measured 0.031 vs 9.28
    assert ch.max_loss < 0.1 * line.max_loss  # measured 0.041 vs 9.28
    assert bz.normalized_length > 1.0
    # the chain's middle bead is its bend; the polygon through the beads is the chain
    assert_close(
        ch.beads, chain_points(A, ch.beads[16], B, torch.linspace(0, 1, 33, dtype=F64)),
        what="chain beads",
    )  # fmt: skip


def test_mueller_brown_bezier_is_below_the_line():
    mb = MuellerBrown()
    A = torch.tensor([-0.5582, 1.4417], dtype=F64)
    B = torch.tensor([-0.0500, 0.4667], dtype=F64)
    line = linear_path(mb, A, B)
    bz = fit_bezier(mb, A, B, steps=300, lr=0.02, generator=torch.Generator().manual_seed(0))
    assert line.max_loss > 3.0  # measured 3.39
    assert bz.max_loss < -3.0  # measured -3.17 (the minimum-energy path peaks at -40.66)


def test_same_generator_same_curve(mlp_minima):
    prob, A, B = mlp_minima
    kw = {"steps": 5, "lr": 0.02, "samples": 4}
    p1 = fit_bezier(prob, A, B, generator=torch.Generator().manual_seed(3), **kw)
    p2 = fit_bezier(prob, A, B, generator=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(p1.beads, p2.beads)
    p0 = fit_bezier(prob, A, B, steps=0)  # no step: the straight segment
    assert_close(p0.loss[:: 4 * 4], linear_path(prob, A, B, points=9).loss, what="no fit")


def test_only_a_non_finite_gradient_stops_the_fit():
    mb = MuellerBrown()
    A = torch.tensor([-0.5582, 1.4417], dtype=F64)
    B = torch.tensor([-0.0500, 0.4667], dtype=F64)
    gen = torch.Generator().manual_seed(1)
    # bend at (-80, 80): exp overflows near the bend, the first gradient is not finite and
    # the fit stops before its first step
    c = torch.tensor([-80.0, 80.0], dtype=F64)
    bad = fit_chain(mb, A, B, steps=20, lr=1.0, control=c, generator=gen)
    assert bad.status == "not_converged"
    assert_close(bad.beads[16], c, what="the bend never moved")
    # control at (-50, 50): gradients ~1e207 are finite (their l2 norm is not), and Adam's
    # step is scale-free, so the fit runs its 20 steps
    c = torch.tensor([-50.0, 50.0], dtype=F64)
    huge = fit_bezier(mb, A, B, steps=20, lr=1.0, control=c, generator=gen)
    assert huge.status == "connected"
    assert float(mb.grad(huge.beads[16][None]).abs().max()) > 1e200


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": -1}, "steps must be an integer >= 0"),
        ({"samples": 0}, "samples must be an integer >= 1"),
        ({"beads": 2}, "beads must be an integer >= 3"),
        ({"lr": 0.0}, "lr must be a positive"),
        ({"theta_b": torch.zeros(3)}, "theta_b"),
        ({"theta_a": torch.tensor([float("nan"), 0.0])}, "theta_a contains NaN"),
    ],
)
@pytest.mark.parametrize("fit", [fit_bezier, fit_chain])
def test_bad_input_raises(fit, kwargs, match):
    args = {"theta_a": torch.zeros(2), "theta_b": torch.ones(2)}
    args.update(kwargs)
    a, b = args.pop("theta_a"), args.pop("theta_b")
    with pytest.raises(ValueError, match=match):
        fit(MuellerBrown(), a, b, **args)
