"""GD and Adam as pure init/update pairs on (R, P) batches: against hand-written updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GD, Adam

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gd_update() -> None:
    opt = GD(lr=0.3)
    theta = torch.randn(4, 5, generator=_gen(0), dtype=DT)
    g = torch.randn(4, 5, generator=_gen(1), dtype=DT)
    state = opt.init(theta)
    assert state == ()
    step, state2 = opt.update(g, state)
    assert step.shape == (4, 5) and state2 == ()
    assert_close(step, -0.3 * g, rtol=0, atol=0, what="GD step")


def _adam_numpy(grads: list[np.ndarray], lr: float, b1: float, b2: float, eps: float):
    """Kingma & Ba (2015), Algorithm 1, for one row: the list of steps."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    steps = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        steps.append(-lr * mhat / (np.sqrt(vhat) + eps))
    return steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adam_matches_algorithm_1(seed: int) -> None:
    opt = Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-8)
    R, P, T = 3, 4, 6
    grads = torch.randn(T, R, P, generator=_gen(seed), dtype=DT)
    state = opt.init(torch.zeros(R, P, dtype=DT))
    assert [s.shape for s in state] == [(R, P), (R, P), (R,)]
    got = []
    for t in range(T):
        step, state = opt.update(grads[t], state)
        got.append(step)
    assert_close(state[2], torch.full((R,), float(T), dtype=DT), rtol=0, atol=0)
    for r in range(R):
        want = _adam_numpy([grads[t, r].numpy() for t in range(T)], 0.01, 0.8, 0.99, 1e-8)
        assert_close(torch.stack([s[r] for s in got]), np.stack(want), what=f"Adam row {r}")


def test_adam_first_step_is_lr_per_coordinate() -> None:
    # bias correction: mhat_1 = g, vhat_1 = g^2, so step_1 = -lr g / (|g| + eps)
    lr, eps = 0.05, 1e-8
    opt = Adam(lr=lr, eps=eps)
    g = torch.tensor([[0.3, -2.0, 0.0, 1e-2], [-5.0, 0.0, 7.0, -0.1]], dtype=DT)
    step, _ = opt.update(g, opt.init(torch.zeros_like(g)))
    assert step.shape == g.shape
    assert_close(step, -lr * g / (g.abs() + eps), what="first Adam step")
    nz = g != 0
    # |step| = lr |g| / (|g| + eps) = lr (1 - eps/|g| + ...): within 1e-6 relative here
    assert_close(step[nz].abs(), torch.full((int(nz.sum()),), lr, dtype=DT), rtol=1e-6, atol=0)
    assert float(step[~nz].abs().max()) == 0.0
    assert bool((torch.sign(step[nz]) == -torch.sign(g[nz])).all())


def test_adam_step_counter_is_per_row() -> None:
    # rows gathered from different points of a run carry their own t
    opt = Adam(lr=0.1, beta1=0.9, beta2=0.999)
    g = torch.full((2, 3), 0.5, dtype=DT)
    m = torch.full((2, 3), 0.2, dtype=DT)
    v = torch.full((2, 3), 0.04, dtype=DT)
    t = torch.tensor([0.0, 9.0], dtype=DT)
    step, (m1, v1, t1) = opt.update(g, (m, v, t))
    assert_close(t1, torch.tensor([1.0, 10.0], dtype=DT), rtol=0, atol=0)
    for r, tr in enumerate((1, 10)):
        mm = 0.9 * 0.2 + 0.1 * 0.5
        vv = 0.999 * 0.04 + 0.001 * 0.25
        want = -0.1 * (mm / (1 - 0.9**tr)) / (math.sqrt(vv / (1 - 0.999**tr)) + 1e-8)
        assert_close(step[r], torch.full((3,), want, dtype=DT), what=f"row {r}, t = {tr}")


@pytest.mark.parametrize(
    "make",
    [
        lambda: GD(lr=0.0),
        lambda: GD(lr=-0.1),
        lambda: GD(lr=float("nan")),
        lambda: GD(lr=float("inf")),
        lambda: GD(lr="0.1"),  # type: ignore[arg-type]
        lambda: Adam(lr=0.0),
        lambda: Adam(lr=float("nan")),
        lambda: Adam(beta1=1.0),
        lambda: Adam(beta1=-0.1),
        lambda: Adam(beta2=1.5),
        lambda: Adam(beta2=float("nan")),
    ],
    ids=[
        "gd-0",
        "gd-neg",
        "gd-nan",
        "gd-inf",
        "gd-str",
        "adam-0",
        "adam-nan",
        "b1-1",
        "b1-neg",
        "b2-big",
        "b2-nan",
    ],
)
def test_bad_hyperparameters(make) -> None:
    with pytest.raises(ValueError, match="learning rate|beta"):
        make()
