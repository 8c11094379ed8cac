"""The straight segment and the arc-length loss profile along a polygon."""

from __future__ import annotations

import pytest
import torch

from _tolerances import assert_close
from landscope.connect.interpolate import linear_path, linear_paths, profile
from landscope.problems import DoubleWell, ModuleLoss, MuellerBrown, Quadratic, ReluTeacherStudent

F64 = torch.float64


class Counting:
    """Wraps a problem and records the batch size of every ``loss`` call."""

    def __init__(self, problem):
        self.p = problem
        self.calls: list[int] = []
        self.n_params = problem.n_params
        self.dtype, self.device = problem.dtype, problem.device

    def as_batch(self, theta):
        return self.p.as_batch(theta)

    def loss(self, theta):
        self.calls.append(int(theta.shape[0]))
        return self.p.loss(theta)


def test_double_well_segment_has_barrier_one_at_the_middle():
    dw = DoubleWell(dim=1)
    path = linear_path(dw, torch.tensor([-1.0], dtype=F64), torch.tensor([1.0], dtype=F64))
    t = torch.linspace(0, 1, 65, dtype=F64)
    x = 2 * t - 1
    assert path.method == "linear" and path.status == "connected" and path.level is None
    assert path.beads.shape == (2, 1) and path.n_beads == 0
    assert_close(path.t, t, what="t")
    assert_close(path.loss, (x * x - 1) ** 2, what="loss")
    assert_close(path.bead_loss, torch.zeros(2, dtype=F64), what="bead loss")
    assert path.max_loss == pytest.approx(1.0, abs=1e-12)  # t = 1/2 is sampled (65 points)
    assert path.barrier == pytest.approx(1.0, abs=1e-12)
    assert path.normalized_length == pytest.approx(1.0, abs=1e-12)


def test_level_decides_the_status():
    dw = DoubleWell(dim=1)
    a, b = torch.tensor([-1.0], dtype=F64), torch.tensor([1.0], dtype=F64)
    assert linear_path(dw, a, b, level=1.0).status == "connected"
    assert linear_path(dw, a, b, level=0.5).status == "not_connected_found"
    assert not linear_path(dw, a, b, level=0.5).connected


def test_convex_segment_has_no_barrier():
    # a convex function on a segment is at most the larger endpoint value
    g = torch.Generator().manual_seed(0)
    M = torch.randn(5, 5, generator=g, dtype=F64)
    q = Quadratic(M @ M.T + 0.1 * torch.eye(5, dtype=F64))
    ab = q.init(2, generator=g)
    path = linear_path(q, ab[0], ab[1:], points=33)
    assert path.loss.shape == (33,) and path.t.shape == (33,)
    assert path.barrier <= 1e-12
    assert_close(path.loss[[0, -1]], q.loss(ab), what="endpoint losses")


def test_profile_by_arc_length_in_one_batch():
    q = Counting(Quadratic(torch.eye(2, dtype=F64)))
    beads = torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]], dtype=F64)
    t, loss = profile(q, beads, points_per_segment=4)
    assert q.calls == [9]  # (K - 1) * 4 + 1 points, one call
    expected_t = torch.tensor([0, 0.75, 1.5, 2.25, 3, 4, 5, 6, 7], dtype=F64) / 7
    assert_close(t, expected_t, what="t by arc length")
    pts = torch.tensor(
        [[0, 0], [0.75, 0], [1.5, 0], [2.25, 0], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]],
        dtype=F64,
    )
    assert_close(loss, 0.5 * pts.square().sum(1), what="loss along the polygon")


def test_profile_of_a_zero_length_polygon():
    mb = MuellerBrown()
    beads = torch.tensor([[0.1, 0.2]] * 3, dtype=F64)
    t, loss = profile(mb, beads, points_per_segment=2)
    assert_close(t, torch.linspace(0, 1, 5, dtype=F64), what="t")
    assert_close(loss, mb.loss(beads[:1]).expand(5), what="loss")


def test_works_on_a_module_loss():
    torch.manual_seed(0)  # only the module's own (unused) init
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    g = torch.Generator().manual_seed(1)
    X = torch.randn(10, 2, generator=g, dtype=F64)
    prob = ModuleLoss(model, X, X[:, :1] * X[:, 1:])
    ab = prob.init(2, generator=g)
    path = linear_path(prob, ab[0], ab[1], points=9)
    s = torch.linspace(0, 1, 9, dtype=F64)[:, None]
    assert_close(path.loss, prob.loss((1 - s) * ab[0] + s * ab[1]), what="segment loss")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"theta_b": torch.zeros(3, dtype=F64)}, "theta_b"),
        ({"theta_a": torch.tensor([float("nan"), 0.0], dtype=F64)}, "theta_a contains NaN"),
        ({"theta_a": torch.zeros(2, 2, dtype=F64)}, "one point"),
        ({"points": 1}, "points must be an integer >= 2"),
        ({"level": float("nan")}, "level must be a finite number"),
    ],
)
def test_linear_path_rejects_bad_input(kwargs, match):
    args = {"theta_a": torch.zeros(2, dtype=F64), "theta_b": torch.ones(2, dtype=F64)}
    args.update(kwargs)
    a, b = args.pop("theta_a"), args.pop("theta_b")
    with pytest.raises(ValueError, match=match):
        linear_path(MuellerBrown(), a, b, **args)


def test_profile_rejects_bad_input():
    mb = MuellerBrown()
    with pytest.raises(ValueError, match="at least 2"):
        profile(mb, torch.zeros(1, 2, dtype=F64))
    with pytest.raises(ValueError, match="NaN"):
        profile(mb, torch.tensor([[0.0, 0.0], [float("inf"), 0.0]], dtype=F64))
    with pytest.raises(ValueError, match="points_per_segment"):
        profile(mb, torch.zeros(2, 2, dtype=F64), points_per_segment=0)


def test_linear_paths_equal_linear_path_pair_by_pair() -> None:
    """Many segments in few loss calls (chunk forces several): each Path equals the one
    linear_path gives for its pair (same sample points; losses to rounding)."""
    prob = ReluTeacherStudent(k=3, n=4)
    gen = torch.Generator().manual_seed(5)
    A = prob.init(5, generator=gen)
    B = prob.init(5, generator=gen)
    many = linear_paths(prob, A, B, points=17, level=1.0, chunk=40 * prob.n_params)
    assert len(many) == 5
    for i, p in enumerate(many):
        one = linear_path(prob, A[i], B[i], points=17, level=1.0)
        assert p.status == one.status and p.method == "linear"
        assert_close(p.loss, one.loss, what=f"pair {i} loss")
        assert_close(p.t, one.t, what=f"pair {i} t")
        assert p.barrier == pytest.approx(one.barrier, abs=1e-13)
    with pytest.raises(ValueError, match="same shape"):
        linear_paths(prob, A, B[:3])
