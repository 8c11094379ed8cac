"""SampledGD: GD on the problem's sampled gradient, against a plain loop with the same draws."""

from __future__ import annotations

import pytest
import torch

from landscope.optim import SampledGD, Stop, run
from landscope.problems import DropoutLinear, Quadratic

F64 = torch.float64


def _problem(kind: str) -> DropoutLinear:
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(10, 3, generator=g, dtype=F64), torch.randn(10, 2, generator=g, dtype=F64)
    return DropoutLinear(X, Y, width=4, keep=0.6, kind=kind)


@pytest.mark.parametrize("kind", ["dropout", "dropconnect"])
def test_matches_a_loop_with_the_same_draws(kind: str) -> None:
    prob = _problem(kind)
    theta = prob.init(3, generator=torch.Generator().manual_seed(1))
    res = run(prob, theta, SampledGD(0.05, torch.Generator().manual_seed(2)),
              stop=Stop(grad_tol=None, max_steps=30))  # fmt: skip
    gen, th = torch.Generator().manual_seed(2), theta.clone()
    for _ in range(30):
        th = th - 0.05 * prob.sample_loss_and_grad(th, gen)[1]
    # the same draws in the same order, the same arithmetic: bit for bit
    assert torch.equal(res.theta, th)
    assert (res.steps == 30).all()


def test_bad_settings_and_problems() -> None:
    for lr in (0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="lr must be a positive number"):
            SampledGD(lr)
    quad = Quadratic(torch.eye(2, dtype=F64))
    with pytest.raises(TypeError, match="samples its gradient"):
        run(quad, torch.ones(1, 2, dtype=F64), SampledGD(0.1))
