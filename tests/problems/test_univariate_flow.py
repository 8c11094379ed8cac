"""Gradient flow of UnivariateReLU by the event-driven Filippov integrator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscope.data import univariate_set
from landscope.problems import UnivariateReLU
from landscope.problems.univariate_flow import gradient_flow

torch.set_num_threads(1)

T64 = torch.float64


def net(x, y, a, b, c) -> tuple[UnivariateReLU, torch.Tensor]:
    x, y = torch.tensor(x, dtype=T64), torch.tensor(y, dtype=T64)
    prob = UnivariateReLU(x, y, width=len(a), symmetric=False)
    theta = prob.join(*(torch.tensor(v, dtype=T64) for v in (a, b, c)))
    return prob, theta


def gd(prob: UnivariateReLU, theta: torch.Tensor, eta: float, steps: int) -> torch.Tensor:
    theta = theta.clone()
    for _ in range(steps):
        theta = theta - eta * prob.grad(theta)
    return theta


def test_the_jump_across_a_knot_at_a_point() -> None:
    """v_+ - v_- = -c_i e_j (x_j, 1) for neuron i's (a_i, b_i) across g_ij = 0 (the sign
    the integrator's crossing and sliding rules are built on), the rest continuous."""
    prob, theta = net([-1.0, 0.5, 1.0], [0.3, -0.2, 0.7], [1.5, -0.7], [-0.75, 0.4], [0.8, -1.1])
    i, j, x_j = 0, 1, 0.5  # neuron 0's knot at x_1 = 0.5: g = 1.5 * 0.5 - 0.75 = 0
    delta = 1e-9
    sides = []
    for s in (-1.0, 1.0):  # move b_0 so that g_01 = s delta
        th = theta.clone()
        th[0, 1] += s * delta
        sides.append(-prob.grad(th)[0])
    v_minus, v_plus = sides
    e_j = float(prob.residuals(theta)[0, j])
    c_i = float(theta[0, 3 * i + 2])
    expected = -c_i * e_j * torch.tensor([x_j, 1.0], dtype=T64)
    jump = v_plus - v_minus
    # O(delta) changes elsewhere: the residuals move by c_i delta, the c-gradient by e delta
    assert torch.allclose(jump[:2], expected, rtol=0, atol=1e-7)
    assert jump[2:].abs().max() < 1e-7


def test_smooth_segment_matches_small_step_gd() -> None:
    """No knot crosses a point in [0, T]: the flow is smooth, GD's gap to it is O(eta)."""
    prob, theta = net([-1.0, 0.0, 1.0], [0.2, -0.1, 0.4], [1.0, -1.0], [0.5, 0.5], [0.5, -0.3])
    T = 0.5
    res = gradient_flow(prob, theta, T, rtol=1e-12, atol=1e-14)
    assert res.reached and res.n_events == 0 and res.n_slides == 0
    assert res.t.tolist() == [T] and res.theta.shape == (1, 6)
    knots = prob.knots(res.theta)[0]
    assert (knots - torch.tensor([-0.5, 0.5], dtype=T64)).abs().max() < 0.3  # far from data
    gaps = []
    for eta in (1e-2, 5e-3, 2.5e-3):
        th = gd(prob, theta, eta, round(T / eta))
        gaps.append(float((th - res.theta).norm()))
    # Euler's global error is C eta + O(eta^2); the ODE's own error (rtol 1e-12) is ~1e-12,
    # far below the gaps (~1e-3): each halving of eta halves the gap up to the O(eta^2)
    # term, which at these steps moves the ratio by a few percent at most
    assert 1e-5 < gaps[0] < 0.1
    for big, small in zip(gaps, gaps[1:], strict=False):
        assert 1.6 < big / small < 2.4


def test_conserved_law_across_crossings_and_slides() -> None:
    """q_i = c_i^2 - a_i^2 - b_i^2 stays put along the Filippov flow, slides included
    (the sliding velocity is v0 projected along n = (x_j, 1), and (a_i, b_i) . n = g = 0)."""
    x, y = univariate_set("smooth", 6)
    prob = UnivariateReLU(x, y, width=6, init_kind="uniform", ratio=1.0)
    theta = prob.init(1, generator=torch.Generator().manual_seed(1))
    res = gradient_flow(prob, theta, 100.0, t_eval=np.linspace(0, 100, 101))
    assert res.reached and res.n_events >= 5 and res.n_slides >= 5
    assert res.theta.shape == (101, prob.n_params) and res.t[-1] == 100.0
    q = prob.conserved(res.theta)
    a, b, c, _ = prob.parts(theta)
    size = float((a * a + b * b + c * c).max())
    # rtol 1e-8 over ~1e3 steps and ~20 events: the drift is ~1e-9 of the neurons' size
    assert float((q - q[:1]).abs().max()) / size < 1e-7
    # while it moved: the knots did travel (this is not a trivially frozen run)
    assert float((res.theta[-1] - res.theta[0]).norm()) > 0.1 * float(theta.norm())


def test_constructed_slide_holds_the_knot_at_the_point() -> None:
    """One neuron, knot at -0.8, pulled to x_1 = -0.5 (its point x_1 wants f = -3 < 0, which
    a relu of c > 0 cannot give) and held there by x_2 = 0.5 (which wants f larger): at
    the surface s_- = -0.75 c e_2 > 0 > s_+ = s_- - 1.25 c e_1, both sides point in."""
    prob, theta = net([-1.0, -0.5, 0.5], [0.0, -3.0, 2.0], [1.0], [0.8], [1.0])
    T = 6.0  # e_2 -> 0 like exp(-2 t) or faster: by T it is ~1e-10 and lam ~ 1e-10
    res = gradient_flow(prob, theta, T, t_eval=np.linspace(0, T, 241), rtol=1e-11, atol=1e-13)
    assert res.reached and res.n_slides == 1 and res.sliding == ((0, 1),)
    a, b, c = (v[:, 0] for v in prob.parts(res.theta)[:3])
    g = a * -0.5 + b
    on = res.t >= 0.5  # the knot reaches the point by t = 0.1 (dg/dt = -3.6 at t = 0)
    assert (g[on].abs() < 1e-12).all() and (g[:1] > 0).all()
    L = prob.loss(res.theta)
    assert (L.diff() <= 1e-14).all()
    # the limit: f(x_2) = a c (0.5 - (-0.5)) = 2 and f(x_1) = 0, loss 1/2 * 3^2 = 4.5
    assert float(L[-1]) == pytest.approx(4.5, abs=1e-6)
    q = prob.conserved(res.theta)
    assert float((q - q[0]).abs().max()) < 1e-8
    # GD at the same point chatters around the surface within O(eta) instead of sliding
    th = gd(prob, theta, 1e-2, round(T / 1e-2))
    assert 0 < abs(float(th[0, 0] * -0.5 + th[0, 1])) < 0.1
    assert float((th - res.theta[-1:]).norm()) < 0.1


def test_loss_non_increasing_on_a_random_problem() -> None:
    x, y = univariate_set("alternating", 6)
    prob = UnivariateReLU(x, y, width=8, init_kind="gaussian", ratio=1.0)
    theta = prob.init(1, generator=torch.Generator().manual_seed(0))
    res = gradient_flow(prob, theta, 100.0, t_eval=np.linspace(0, 100, 501), rtol=1e-10,
                        atol=1e-12)  # fmt: skip
    assert res.reached and res.n_events >= 3
    L = prob.loss(res.theta)
    # rtol 1e-10: the state is good to ~1e-10 relative, so a plateau's loss to ~1e-11
    assert float(L.diff().max()) <= 1e-11 * float(L[0])
    assert float(L[-1]) < 1e-2 * float(L[0])


def test_caps_and_frozen_neurons() -> None:
    x, y = univariate_set("alternating", 6)
    prob = UnivariateReLU(x, y, width=8, init_kind="gaussian", ratio=1.0)
    theta = prob.init(1, generator=torch.Generator().manual_seed(0))
    res = gradient_flow(prob, theta, 100.0, max_events=1)
    assert not res.reached and res.n_events == 1 and "max_events" in res.message
    assert res.t[0] < 100.0 and res.wall > 0 and res.nfev > 0
    res = gradient_flow(prob, theta, 100.0, max_wall=0.0)
    assert not res.reached and "max_wall" in res.message
    # a neuron with a = b = 0 has zero velocity (relu'(0) = 0) and stays there
    th = theta.clone()
    th[0, :2] = 0.0
    res = gradient_flow(prob, th, 5.0)
    assert res.reached and torch.equal(res.theta[0, :3], th[0, :3])


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"t_end": 0.0}, "t_end must be a positive"), ({"t_end": -1.0}, "t_end must be a positive"),
     ({"t_end": math.nan}, "t_end must be a positive"), ({"rows": 2}, "one row of"),
     ({"method": "LSODA"}, "method must be one of"),
     ({"t_eval": [2.0, 1.0]}, "t_eval must be increasing")],
)  # fmt: skip
def test_bad_input_is_one_sentence(kw: dict, message: str) -> None:
    x, y = univariate_set("alternating", 6)
    prob = UnivariateReLU(x, y, width=4)
    theta = prob.init(kw.pop("rows", 1), generator=torch.Generator().manual_seed(0))
    t_end = kw.pop("t_end", 1.0)
    with pytest.raises(ValueError, match=message) as err:
        gradient_flow(prob, theta, t_end, **kw)
    text = str(err.value)
    assert "\n" not in text and text.endswith(".") and text.count(". ") == 0
