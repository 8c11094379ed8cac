"""GD and Adam as pure init/update pairs on (R, P) batches: against hand-written updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _tolerances import assert_close
from landscope.optim import GD, Adam, Stop, cosine_decay, run

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


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("T", [1, 7, 300, 4000])
def test_cosine_decay_is_torchs_cosine_annealing(T: int) -> None:
    """lr * factor(k) against the lr CosineAnnealingLR(T_max=T) gives update k (stepped once
    after each update). torch updates its lr recursively, lr_k = lr_{k-1} (1 + cos(pi k/T))
    / (1 + cos(pi (k-1)/T)), so the two round differently: measured 3e-15 relative at
    T = 4000 (and 7e-17 absolute at lr = 0.03); bound 1e-13."""
    lr = 0.03
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=0)
    want = []
    for _ in range(T):  # the reference's own lr sequence
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    count = torch.arange(T, dtype=DT)
    got = lr * cosine_decay(T)(count)
    assert got.shape == (T,) and got.dtype == DT
    assert_close(got, np.array(want), rtol=1e-13, atol=0, what=f"lr of cosine_decay({T})")
    assert float(cosine_decay(T)(torch.zeros(1, dtype=DT))[0]) == 1.0
    # past T the factor stays at 0 (torch's scheduler would rise again)
    after = cosine_decay(T)(torch.tensor([T, T + 1, 3 * T], dtype=DT))
    assert torch.equal(after, torch.zeros(3, dtype=DT))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_cosine_decay_needs_a_positive_integer(bad) -> None:
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        cosine_decay(bad)


@pytest.mark.parametrize("make", [lambda s: GD(0.1, schedule=s), lambda s: Adam(0.1, schedule=s)])
def test_schedule_must_be_callable(make) -> None:
    with pytest.raises(ValueError, match="schedule must be None or a callable"):
        make(0.5)


def test_gd_schedule_per_row_count() -> None:
    # the state holds each row's count; the factor is the schedule at the count before
    # the update, and rows with different counts get their own factor
    opt = GD(lr=0.2, schedule=lambda k: 1.0 / (1.0 + k))
    theta = torch.zeros(2, 3, dtype=DT)
    (count,) = opt.init(theta)
    assert torch.equal(count, torch.zeros(2, dtype=DT))
    g = torch.randn(2, 3, generator=_gen(3), dtype=DT)
    step, (count1,) = opt.update(g, (torch.tensor([0.0, 4.0], dtype=DT),))
    assert torch.equal(count1, torch.tensor([1.0, 5.0], dtype=DT))
    assert_close(step[0], -0.2 * g[0], what="row at count 0")
    assert_close(step[1], -0.2 / 5.0 * g[1], what="row at count 4")


def test_adam_schedule_scales_the_step() -> None:
    # same moments as without a schedule; the step is scaled by schedule(t - 1) per row
    g = torch.randn(2, 4, generator=_gen(4), dtype=DT)
    m = torch.randn(2, 4, generator=_gen(5), dtype=DT)
    v = torch.rand(2, 4, generator=_gen(6), dtype=DT)
    t = torch.tensor([0.0, 6.0], dtype=DT)
    plain, (m0, v0, t0) = Adam(0.1).update(g, (m, v, t))
    factor = torch.tensor([0.25, 0.5], dtype=DT)
    sched = Adam(0.1, schedule=lambda k: torch.where(k > 0, 0.5, 0.25).to(DT))
    step, (m1, v1, t1) = sched.update(g, (m, v, t))
    for a, b in ((m1, m0), (v1, v0), (t1, t0)):
        assert torch.equal(a, b)
    assert_close(step, plain * factor[:, None], what="scheduled Adam step")


class _Logistic:
    """L2-regularized logistic regression on fixed data, R rows: a small smooth problem
    whose gradient (closed form) both the driver and the torch.optim reference use, so
    that the optimizers' arithmetic is all that differs."""

    def __init__(self, n: int, P: int) -> None:
        self.X = torch.randn(n, P, generator=_gen(20), dtype=DT)
        self.y = torch.sign(torch.randn(n, generator=_gen(21), dtype=DT))
        self.dtype, self.device, self.n_params = DT, torch.device("cpu"), P

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (theta @ self.X.T) * self.y  # (R, n) margins
        loss = torch.nn.functional.softplus(-z).mean(1) + 0.05 * theta.square().sum(1)
        coef = -torch.sigmoid(-z) * self.y / self.X.shape[0]
        return loss, coef @ self.X + 0.1 * theta

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[0]

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]


def _trajectory(problem, theta0, method, T: int) -> torch.Tensor:
    seen = []
    res = run(problem, theta0, method, stop=Stop(grad_tol=0.0, max_steps=T),
              observers=[lambda view: seen.append(view.theta.clone())])  # fmt: skip
    assert res.steps.tolist() == [T] * theta0.shape[0]
    return torch.stack(seen)  # (T + 1, R, P): every iterate


def _torch_trajectory(problem, theta0, kind: str, lr: float, T: int, cosine: bool):
    p = theta0.clone().requires_grad_()
    opt = torch.optim.Adam([p], lr=lr) if kind == "adam" else torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T) if cosine else None
    seen = [p.detach().clone()]
    for _ in range(T):  # the reference: torch.optim's own loop
        p.grad = problem.grad(p.detach())
        opt.step()
        if sched is not None:
            sched.step()
        seen.append(p.detach().clone())
    return torch.stack(seen)


@pytest.mark.parametrize("kind", ["adam", "gd"])
@pytest.mark.parametrize("cosine", [True, False], ids=["cosine", "constant"])
def test_trajectories_match_torch_optim(kind: str, cosine: bool) -> None:
    """Driver + Adam / GD (with cosine_decay or none) against torch.optim.Adam / SGD (with
    CosineAnnealingLR or none), every iterate of 300 steps, 3 rows. Adam's arithmetic
    differs from torch's by rounding (torch: step lr / (1 - b1^t) on m / (sqrt(v) /
    sqrt(1 - b2^t) + eps); here lr m^ / (sqrt(v^) + eps)), and the lr by the rounding of
    torch's recursive schedule: measured max |diff| 2e-16 .. 6e-16 of max |theta|; bound
    1e-12."""
    T, lr = 300, (0.05 if kind == "adam" else 0.5)
    problem = _Logistic(40, 5)
    theta0 = torch.randn(3, 5, generator=_gen(22), dtype=DT)
    schedule = cosine_decay(T) if cosine else None
    method = Adam(lr, schedule=schedule) if kind == "adam" else GD(lr, schedule=schedule)
    got = _trajectory(problem, theta0, method, T)
    want = _torch_trajectory(problem, theta0, kind, lr, T, cosine)
    assert got.shape == want.shape == (T + 1, 3, 5)
    scale = float(want.abs().max())
    assert_close(got, want, rtol=0, atol=1e-12 * scale, what=f"{kind} trajectory")
    # the runs went somewhere: far from theta0, near the minimizer (gradient small)
    assert float((got[-1] - theta0).abs().max()) > 0.1
    assert float(problem.grad(got[-1]).abs().max()) < 1e-2
