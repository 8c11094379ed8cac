"""Nudged elastic band with a climbing image: saddles of Mueller-Brown, and a neural net."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.connect.interpolate import linear_path
from landscope.connect.neb import NebBand, NebResult, neb, neb_forces, resample
from landscope.connect.path import PATH_STATUS
from landscope.optim import FIRE, LBFGS, Stop, run
from landscope.problems import DoubleWell, ModuleLoss, MuellerBrown
from landscope.problems.capabilities import RowData, StopNorm

F64 = torch.float64


def _newton(problem, x: torch.Tensor, iters: int = 30) -> torch.Tensor:
    for _ in range(iters):
        x = x - torch.linalg.solve(problem.hessian(x), problem.grad(x)[..., None])[..., 0]
    return x


@pytest.fixture(scope="module")
def mb():
    prob = MuellerBrown()
    minima = _newton(prob, torch.tensor([m[:2] for m in prob.MINIMA], dtype=F64))
    saddles = _newton(prob, torch.tensor([s[:2] for s in prob.SADDLES], dtype=F64))
    return prob, minima, saddles


class CountingGrad:
    """Wraps a problem and records the batch size of every ``loss_and_grad`` call."""

    def __init__(self, problem):
        self.p = problem
        self.calls: list[int] = []
        self.n_params, self.dtype, self.device = problem.n_params, problem.dtype, problem.device

    def as_batch(self, theta):
        return self.p.as_batch(theta)

    def loss(self, theta):
        return self.p.loss(theta)

    def loss_and_grad(self, theta):
        self.calls.append(int(theta.shape[0]))
        return self.p.loss_and_grad(theta)


@pytest.mark.parametrize(
    ("i", "j", "images", "saddle", "energy"),
    [
        (0, 1, 21, 0, -40.66),  # through the intermediate minimum: the higher saddle
        (0, 2, 13, 0, -40.66),
        (2, 1, 13, 1, -72.25),
    ],
)
def test_mueller_brown_saddles(mb, i, j, images, saddle, energy):
    prob, minima, saddles = mb
    res = neb(prob, minima[i], minima[j], images=images, tol=1e-8, max_iter=5000)
    assert isinstance(res, NebResult) and res.converged and res.path.status == "connected"
    assert res.path.method == "neb" and res.path.beads.shape == (images, 2)
    assert abs(res.saddle_loss - energy) <= 1e-2  # the literature's two decimals
    # the climbing image converges to the saddle itself (found independently by Newton)
    assert_close(res.saddle, saddles[saddle], atol=1e-9, rtol=0, what="saddle point")
    assert res.saddle_grad_norm <= 1e-8
    assert float(torch.linalg.vector_norm(prob.grad(res.saddle[None]))) <= 1e-8
    eig = torch.linalg.eigvalsh(prob.hessian(res.saddle[None]))[0]
    assert int((eig < 0).sum()) == 1  # a first-order saddle: one negative eigenvalue
    ci = res.climbing_index
    assert 0 < ci < images - 1 and torch.equal(res.path.beads[ci], res.saddle)
    assert res.path.max_loss == pytest.approx(res.saddle_loss, abs=1e-6)
    assert_close(res.path.bead_loss, prob.loss(res.path.beads), what="bead losses")


def test_images_are_one_batch(mb):
    prob, minima, _ = mb
    counting = CountingGrad(prob)
    res = neb(counting, minima[2], minima[1], images=9, max_iter=40, tol=1e-8)
    assert not res.converged and res.path.status == "not_converged" and res.iters == 40
    assert res.climbing_index == -1  # 40 < climb_after = 50: climbing never started
    assert set(counting.calls) == {7}  # the K - 2 interior images, every call


def test_two_bands_in_one_batch_equal_one_band_runs(mb):
    # two bands of different scales relax as two rows of one batch, each with its own
    # spring, time step and step cap; the driver drops the first band that converges
    prob, minima, _ = mb
    K, P = 9, 2
    a, b = minima[[2, 0]], minima[[1, 2]]
    s = torch.linspace(0, 1, K, dtype=F64)[None, :, None]
    x0 = ((1 - s) * a[:, None] + s * b[:, None])[:, 1:-1].reshape(2, (K - 2) * P)
    spring = torch.tensor([30.0, 10.0], dtype=F64)
    dt0 = torch.tensor([2e-3, 1e-3], dtype=F64)
    cap = torch.tensor([0.02, 0.05], dtype=F64)
    stop = Stop(grad_tol=1e-8, max_steps=3000)
    band = NebBand(prob, a, b, K, spring, climbing=True)
    assert isinstance(band, StopNorm) and isinstance(band, RowData)
    assert band.n_params == x0.shape[1] and band.end_loss.shape == (2, 2)
    res = run(band, x0, FIRE(dt0=dt0, max_step=cap, block=P), stop=stop)
    assert res.status_names() == ["converged", "converged"]
    assert res.steps[0] != res.steps[1]  # one band finished first and left the batch
    e, g, F = band.evaluate(res.theta)
    assert e.shape == (2, K - 2) and g.shape == F.shape == (2, K - 2, P)
    # the stopping norm is the largest image force, not the l2 norm of the row
    assert_close(res.grad_norm, F.norm(dim=2).amax(1), what="max image force")
    assert bool((res.grad_norm <= 1e-8).all())
    for r in range(2):
        one = NebBand(prob, a[r : r + 1], b[r : r + 1], K, spring[r : r + 1], climbing=True)
        fire = FIRE(dt0=float(dt0[r]), max_step=float(cap[r]), block=P)
        alone = run(one, x0[r : r + 1], fire, stop=stop)
        assert int(alone.steps[0]) == int(res.steps[r]), f"band {r}"
        assert_close(alone.theta[0], res.theta[r], what=f"band {r} alone")
    # the climbing images converged to the two saddles (found by Newton in ``mb``)
    top = e.argmax(1)
    saddles = _newton(prob, torch.tensor([sd[:2] for sd in prob.SADDLES], dtype=F64))
    assert_close(res.theta.reshape(2, K - 2, P)[[0, 1], top], saddles[[1, 0]], atol=1e-7,
                 rtol=0, what="saddles")  # fmt: skip


def test_double_well_1d_climbs_to_the_top():
    res = neb(DoubleWell(1), torch.tensor([-1.0]), torch.tensor([1.0]), images=6, tol=1e-10)
    assert res.converged
    assert abs(float(res.saddle[0])) <= 1e-10
    assert res.saddle_loss == pytest.approx(1.0, abs=1e-12)


def test_band_at_rest_idles_until_climbing():
    # one image exactly on the saddle of (x^2 - 1)^2: every force is exactly 0, so the band
    # is converged from the start; it still waits out climb_after iterations (FIRE at zero
    # power, halving dt) before the climbing image confirms it
    res = neb(DoubleWell(1), torch.tensor([-1.0]), torch.tensor([1.0]), images=3, climb_after=7)
    assert res.converged and res.iters == 7 and res.max_force == 0.0
    assert res.climbing_index == 1 and float(res.saddle[0]) == 0.0


def test_init_path_leads_to_a_side_channel():
    # On (x^2-1)^2 + (y^2-1)^2 the straight segment (-1,-1) -> (1,1) runs over the
    # maximum (0,0) (loss 2); a start bent towards the corner (1,-1) relaxes into the
    # path through that minimum, whose saddles (0,-1) and (1,0) have loss 1.
    dw = DoubleWell(2)
    a, b = torch.tensor([-1.0, -1.0], dtype=F64), torch.tensor([1.0, 1.0], dtype=F64)
    assert linear_path(dw, a, b).max_loss == pytest.approx(2.0, abs=1e-12)
    bent = torch.stack([a, torch.tensor([0.9, -1.1], dtype=F64), b])
    res = neb(dw, a, b, images=15, init_path=bent, tol=1e-9, max_iter=5000)
    assert res.converged
    assert res.saddle_loss == pytest.approx(1.0, abs=1e-9)
    saddles = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)
    assert float(torch.linalg.vector_norm(saddles - res.saddle, dim=1).min()) < 1e-6
    assert res.path.max_loss <= 1.0 + 1e-6


def test_forces_without_climbing_are_perpendicular_plus_spring():
    g = torch.Generator().manual_seed(0)
    band = torch.randn(5, 3, generator=g, dtype=F64)
    energy = torch.tensor([0.0, 1.0, 3.0, 2.0, 0.5], dtype=F64)
    grad = torch.randn(3, 3, generator=g, dtype=F64)
    F = neb_forces(band, energy, grad, spring=0.0, climbing_index=None)
    # image 1 is between its neighbours going up: tangent = theta_2 - theta_1
    tau = (band[2] - band[1]) / (band[2] - band[1]).norm()
    assert_close(F[0], -(grad[0] - (grad[0] @ tau) * tau), what="perpendicular force")
    Fc = neb_forces(band, energy, grad, spring=5.0, climbing_index=1)
    # the climbing image (index 2 of the band, a local maximum) has no spring
    assert_close(Fc[1].norm(), grad[1].norm(), what="|F_ci| = |grad|")


def test_resample_equal_arc_length():
    poly = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]], dtype=F64)
    pts = resample(poly, 5)
    expected = torch.tensor([[0, 0], [1, 0], [1, 1], [1, 2], [1, 3]], dtype=F64)
    assert_close(pts, expected, what="resampled polygon")


def test_neural_net_band_is_below_the_straight_line():
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
    A, B = ab.theta
    res = neb(prob, A, B, images=9, max_iter=200, tol=1e-6)
    line = linear_path(prob, A, B)
    assert res.path.status in PATH_STATUS and res.path.beads.shape == (9, prob.n_params)
    assert torch.equal(res.path.beads[0], A) and torch.equal(res.path.beads[-1], B)
    assert res.path.max_loss <= line.max_loss
    assert res.path.max_loss < 0.1 * line.max_loss  # measured 0.043 vs 9.28


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images": 2}, "images must be an integer >= 3"),
        ({"theta_b": torch.tensor([0.0, float("nan")])}, "theta_b contains NaN"),
        ({"theta_b": torch.zeros(3)}, "theta_b"),
        ({"theta_b": torch.tensor([0.1, 0.2])}, "same point"),
        ({"tol": 0.0}, "tol must be a positive"),
        ({"spring": -1.0}, "spring must be a positive"),
        ({"init_path": torch.zeros(1, 2)}, "init_path has 1 row"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {"theta_a": torch.tensor([0.1, 0.2]), "theta_b": torch.tensor([0.5, 0.5])}
    args.update(kwargs)
    a, b = args.pop("theta_a"), args.pop("theta_b")
    with pytest.raises(ValueError, match=match):
        neb(MuellerBrown(), a, b, **args)
