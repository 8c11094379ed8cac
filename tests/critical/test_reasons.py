"""Per-row reasons of certificates for ``ModuleLoss`` problems: no finite minimizer
(separable cross-entropy), polish budget exhausted, saturated units; and "" elsewhere."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from landscope.critical import REASONS, Certificate, certify
from landscope.optim import LBFGS, Stop, newton_polish, run
from landscope.problems import ModuleLoss, ReluTeacherStudent

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _separable(weight_decay: float) -> ModuleLoss:
    # two Gaussian blobs 6 standard deviations apart: linearly separable
    X = torch.randn(40, 2, generator=_gen(0), dtype=DT)
    y = torch.arange(40) % 2
    X[:, 0] += 6.0 * y - 3.0
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    return ModuleLoss(net, X, y, loss="cross_entropy", weight_decay=weight_decay)


def _train(prob: ModuleLoss, R: int, steps: int) -> torch.Tensor:
    res = run(prob, prob.init(R, generator=_gen(1)), LBFGS(),
              stop=Stop(grad_tol=1e-9, max_steps=steps))  # fmt: skip
    return res.theta


def test_separable_cross_entropy_has_no_finite_minimizer_and_decay_fixes_it() -> None:
    prob = _separable(0.0)
    theta = _train(prob, 3, 300)
    t0 = time.perf_counter()
    pol = newton_polish(prob, theta, max_steps=5)
    cert = certify(prob, pol.theta, polish=pol)
    assert time.perf_counter() - t0 < 30.0  # within seconds, not a 15-minute polish
    # the loss and gradient fall towards 0 as the weights grow: ||grad|| reaches grad_tol
    # at a loss ~1e-12 and an all-zero Hessian (degenerate), or it does not (not_converged)
    assert set(cert.verdict) <= {"not_converged", "degenerate"}, cert.verdict
    assert list(cert.reason) == [REASONS[0]] * 3
    # the ray test's claim, checked directly: the loss keeps falling as theta is scaled
    losses = torch.stack([prob.loss((1 + t) * pol.theta) for t in (0, 0.25, 0.5, 1)])
    # (to exactly 0 at 1.5 x theta: log(1 + e^-margin) underflows in float64)
    assert bool((losses[1:] <= losses[:-1]).all()) and bool((losses[1] < losses[0]).all())

    decayed = _separable(1e-2)
    theta = _train(decayed, 3, 2000)
    pol = newton_polish(decayed, theta)
    cert = certify(decayed, pol.theta, polish=pol)
    assert set(cert.verdict) == {"local_min"}, cert.verdict
    assert list(cert.reason) == ["", "", ""]


def test_polish_budget_exhausted_and_no_false_ray() -> None:
    # mse regression from random inits: one Newton iteration cannot converge, and the
    # loss along rays grows (it is quadratic in the last layer): no ray reason
    X = torch.randn(12, 2, generator=_gen(2), dtype=DT)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    prob = ModuleLoss(net, X, torch.sin(X[:, 0]), weight_decay=1e-3)
    theta = prob.init(4, generator=_gen(3))
    pol = newton_polish(prob, theta, max_steps=1)
    assert bool(pol.exhausted.any())
    cert = certify(prob, pol.theta, polish=pol)
    want = np.where(pol.exhausted.numpy() & (cert.verdict == "not_converged"), REASONS[1], "")
    assert list(cert.reason) == list(want)
    assert list(certify(prob, pol.theta).reason) == [""] * 4  # without polish=: no reason
    with pytest.raises(ValueError, match="polish must be the PolishResult of the 3 rows"):
        certify(prob, pol.theta[:3], polish=pol)


def test_saturated_units_counted_and_their_hessian_rows_vanish() -> None:
    # tanh unit 0 saturated on every sample (bias 60: tanh' ~ 4 e^-120): its two incoming
    # weights and bias move no output; mse on a small data set, trained to a minimum
    X = torch.randn(30, 2, generator=_gen(4), dtype=DT)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    prob = ModuleLoss(net, X, torch.sin(2 * X[:, 0]))
    theta = prob.init(2, generator=_gen(5))
    theta[:, 4] = 60.0  # 0.bias[0]
    res = run(prob, theta, LBFGS(), stop=Stop(grad_tol=1e-8, max_steps=2000))
    pol = newton_polish(prob, res.theta)
    cert = certify(prob, pol.theta, polish=pol)
    assert set(cert.verdict) == {"degenerate"}, (cert.verdict, cert.grad_norm)
    assert list(cert.reason) == [f"{REASONS[2]}: 3 parameters move no output"] * 2
    # independent check on the dense Hessian: rows of 0.weight[0, :] and 0.bias[0] vanish
    H = prob.hessian(pol.theta)
    assert float(H[:, [0, 1, 4]].abs().max()) <= 1e-30
    # 3 zero eigenvalues from the saturated unit, 1 more from its constant output, which
    # its outgoing weight trades with the output bias
    assert cert.n_zero.tolist() == [4, 4]


def test_replace_rows_carries_reasons() -> None:
    prob = ReluTeacherStudent(k=2)
    base = certify(prob, prob.init(3, generator=_gen(6)))
    assert list(base.reason) == ["", "", ""]
    other = Certificate(**{**base.__dict__, "reason": np.array(["x", "yy", "zzz"])})
    new = base.replace_rows(np.array([2]), Certificate(**{
        k: (v[:1] if isinstance(v, np.ndarray) else v) for k, v in other.__dict__.items()
    }))  # fmt: skip
    assert list(new.reason) == ["", "", "x"]
