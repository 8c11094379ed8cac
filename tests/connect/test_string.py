"""Dynamic string sampling (Freeman & Bruna 2017) on problems whose level sets are known."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest
import torch

from _tolerances import assert_close
from landscope.connect.string import (
    STRING_COLUMNS,
    STRING_STOP,
    dynamic_string,
    dynamic_strings,
    train_to_level,
)
from landscope.optim import GD, Optimizer
from landscope.problems import DoubleWell, ModuleLoss, Quadratic

ONE_SENTENCE = re.compile(r"^[^\n]+\.$")


@dataclass(frozen=True, eq=False)
class Annulus:
    """f(x, y) = (r - 1)^2, r = |(x, y)|: every sublevel set {f <= u < 1} is the annulus
    1 - sqrt(u) <= r <= 1 + sqrt(u), connected but not convex (its hole has f = 1 at 0).

    The gradient 2 (r - 1) (x, y) / r is set to 0 at the origin (a local maximum).
    """

    n_params: int = 2
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")
    global_min: float | None = 0.0

    def as_batch(self, theta: object) -> torch.Tensor:
        t = torch.as_tensor(theta, dtype=self.dtype)
        t = t.reshape(1, 2) if t.dim() == 1 else t
        if t.dim() != 2 or t.shape[1] != 2:
            raise ValueError(f"theta has shape {tuple(t.shape)}; expected (2,) or (R, 2).")
        return t

    def loss_and_grad(self, theta: object) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.as_batch(theta)
        r = torch.linalg.vector_norm(t, dim=1)
        g = (2 * (r - 1) / r.clamp_min(1e-300))[:, None] * t
        return (r - 1) ** 2, g

    def loss(self, theta: object) -> torch.Tensor:
        return self.loss_and_grad(theta)[0]

    def grad(self, theta: object) -> torch.Tensor:
        return self.loss_and_grad(theta)[1]


def _on_circle(angle: float) -> torch.Tensor:
    return torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64)


class _Counting:
    """Wraps a problem and records the number of rows of every loss_and_grad call."""

    def __init__(self, problem) -> None:
        self.problem = problem
        self.rows: list[int] = []
        for name in ("n_params", "dtype", "device", "global_min", "as_batch", "loss"):
            setattr(self, name, getattr(problem, name))

    def loss_and_grad(self, theta):
        self.rows.append(int(theta.shape[0]))
        return self.problem.loss_and_grad(theta)

    def grad(self, theta):
        return self.loss_and_grad(theta)[1]


class _RecordingGD(Optimizer):
    """GD that records the batch size of every optimizer run it is started on."""

    def __init__(self, lr: float) -> None:
        self.inner = GD(lr)
        self.batches: list[int] = []

    def init(self, theta):
        self.batches.append(int(theta.shape[0]))
        return self.inner.init(theta)

    def update(self, grad, state):
        return self.inner.update(grad, state)


def test_convex_needs_no_bead():
    prob = Quadratic(torch.diag(torch.tensor([1.0, 4.0], dtype=torch.float64)))
    a = torch.tensor([1.0, 0.2], dtype=torch.float64)
    b = torch.tensor([-0.3, -0.5], dtype=torch.float64)
    level = 0.9  # endpoint losses 0.58 and 0.545
    res = dynamic_string(prob, a, b, level)
    p = res.path
    assert p.status == "connected" and res.stop == "connected"
    assert p.method == "string" and p.level == level
    assert p.n_beads == 0 and res.depth == 0 and res.train_steps == 0
    assert res.beads_per_depth == () and res.beads_trained == 0
    assert p.normalized_length == 1.0  # one segment: its length is the chord, bit for bit
    assert p.t.shape == (65,) and p.loss.shape == (65,) and p.bead_loss.shape == (2,)
    assert_close(p.loss, prob.loss(a[None] + p.t[:, None] * (b - a)[None]), what="profile")
    assert p.max_loss <= max(float(prob.loss(a)), float(prob.loss(b)))  # convexity


def test_double_well_below_barrier_is_not_connected_quickly():
    prob = DoubleWell(dim=1)
    a, b = torch.tensor([-1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    # 65 points sample x = 0 exactly: the bead starts at the saddle, where the gradient
    # vanishes, and cannot be brought under the level.
    res = dynamic_string(prob, a, b, 0.5)
    assert res.path.status == "not_connected_found" and res.stop == "bead_above_level"
    assert res.depth == 1 and res.path.n_beads == 1
    assert_close(res.path.bead_loss[1], torch.tensor(1.0, dtype=torch.float64), what="saddle")
    # 64 points miss x = 0: the bead slides into a well (onto an endpoint), the segment
    # from the other end still crosses the barrier, and so on until the depth cap.
    res = dynamic_string(prob, a, b, 0.5, points=64, max_depth=4)
    assert res.path.status == "not_connected_found" and res.stop == "depth_cap"
    assert res.depth == 4 and res.beads_per_depth == (1, 1, 1, 1)
    assert res.path.max_loss > 0.5
    # constrained: in 1-D the hyperplane is a point, so the bead cannot move at all.
    res = dynamic_string(prob, a, b, 0.5, points=64, constrained=True)
    assert res.path.method == "string_constrained" and res.stop == "bead_above_level"
    assert res.depth == 1
    # bead cap: no round is started that would exceed it
    res = dynamic_string(prob, a, b, 0.5, max_beads=0)
    assert res.stop == "bead_cap" and res.path.n_beads == 0 and res.depth == 0


def test_double_well_above_barrier_needs_no_bead():
    prob = DoubleWell(dim=1)
    res = dynamic_string(prob, [-1.0], [1.0], 1.5)
    assert res.path.status == "connected" and res.path.n_beads == 0
    assert res.path.normalized_length == 1.0
    assert_close(res.path.barrier, 1.0, what="barrier")  # x = 0 is sampled


@pytest.mark.parametrize("constrained", [False, True])
def test_annulus_needs_beads_and_connects(constrained):
    prob = Annulus()
    span = 0.9 * math.pi  # endpoints on the unit circle; the chord passes near the hole
    a, b = _on_circle(0.0), _on_circle(span)
    level = 0.02
    res = dynamic_string(prob, a, b, level, constrained=constrained)
    p = res.path
    assert p.status == "connected" and res.stop == "connected"
    assert p.n_beads >= 3 and res.depth >= 2
    assert p.max_loss <= level  # every sampled point of the polygon
    assert bool((p.bead_loss[1:-1] <= 0.5 * level).all())  # beads trained to alpha L0
    # the arc of the circle has normalized length span / (2 sin(span / 2)) = 1.431; a
    # polygon through beads in the annulus 1 -+ sqrt(level) is near it.
    arc = span / (2 * math.sin(span / 2))
    assert 1.2 < p.normalized_length < arc * 1.15
    # the beads go around the hole, in order of their angle
    ang = torch.atan2(p.beads[:, 1], p.beads[:, 0])
    assert bool((ang.diff() > 0).all())
    if constrained:  # each bead keeps its position along the chord of its first segment
        assert p.method == "string_constrained"


def test_annulus_antipodal_constrained_semicircle():
    # The chord's peak is the origin itself, where the gradient vanishes: without jitter
    # the first bead is stuck above the level ...
    prob = Annulus()
    a = torch.tensor([1.0, 0.0], dtype=torch.float64)
    b = -a  # exactly: the chord's midpoint is exactly the origin
    res = dynamic_string(prob, a, b, 0.02)
    assert res.stop == "bead_above_level" and res.path.status == "not_connected_found"
    # ... with jitter it leaves sideways (on the hyperplane x = 0 when constrained) and
    # the polygon goes round half the circle: normalized length near pi / 2.
    gen = torch.Generator().manual_seed(0)
    res = dynamic_string(prob, a, b, 0.02, constrained=True, jitter=1e-3, generator=gen)
    p = res.path
    assert p.status == "connected" and p.max_loss <= 0.02
    # the first bead stays on the midpoint hyperplane x = 0, in the annulus
    inner = p.beads[1:-1]
    first = inner[inner[:, 0].abs().argmin()]
    assert abs(float(first[0])) < 1e-12 and abs(float(first[1])) > 1 - math.sqrt(0.02)
    assert 1.35 < p.normalized_length < 0.5 * math.pi * 1.15


def test_beads_of_one_depth_train_as_one_batch():
    prob = _Counting(Annulus())
    a, b = _on_circle(0.0), _on_circle(0.9 * math.pi)
    opt = _RecordingGD(0.2)
    res = dynamic_string(prob, a, b, 0.02, optimizer=opt)
    assert res.path.status == "connected"
    assert max(res.beads_per_depth) >= 2
    # one optimizer run per depth, holding all beads of that depth
    assert opt.batches == list(res.beads_per_depth)
    assert res.beads_trained == sum(res.beads_per_depth) == res.path.n_beads
    # and no gradient call ever holds more rows than a depth's beads
    assert max(prob.rows) == max(res.beads_per_depth)
    # the Armijo default batches the same way
    prob.rows.clear()
    res = dynamic_string(prob, a, b, 0.02)
    assert max(prob.rows) == max(res.beads_per_depth) >= 2
    assert res.train_steps > 0


def test_many_pairs_in_one_call_equal_one_pair_at_a_time():
    """dynamic_strings: each pair's beads, stop and depth are those of its own
    dynamic_string call (per-row optimizers: the same arithmetic, to 1e-12), while every
    round trains the beads of all pairs in one batch."""
    prob = _Counting(Annulus())
    spans = (0.9 * math.pi, 0.5 * math.pi, 0.2)  # the last chord stays in the annulus
    A = torch.stack([_on_circle(0.0)] * 3)
    B = torch.stack([_on_circle(s) for s in spans])
    opt = _RecordingGD(0.2)
    many = dynamic_strings(prob, A, B, 0.02, optimizer=opt)
    assert len(many) == 3
    alone = [dynamic_string(Annulus(), A[i], B[i], 0.02, optimizer=GD(0.2)) for i in range(3)]
    for m, one in zip(many, alone, strict=True):
        assert (m.stop, m.depth, m.beads_per_depth) == (one.stop, one.depth, one.beads_per_depth)
        assert_close(m.path.beads, one.path.beads, what="beads")
        assert m.path.normalized_length == pytest.approx(one.path.normalized_length, rel=1e-12)
    assert many[2].path.n_beads == 0 and many[0].path.n_beads >= 3
    # round 1 trains the first beads of both curved pairs together
    assert opt.batches[0] == alone[0].beads_per_depth[0] + alone[1].beads_per_depth[0]
    B[2] = torch.tensor([2.0, 0.0], dtype=torch.float64)  # loss 1: outside the level set
    with pytest.raises(ValueError, match=r"loss 1.0 of theta_b\[2\]"):
        dynamic_strings(prob, A, B, 0.02)


def test_train_to_level_matches_a_loop_over_rows():
    prob = Quadratic(torch.diag(torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)))
    theta = prob.init(4, generator=torch.Generator().manual_seed(1)) * 3
    level = 0.05
    res = train_to_level(prob, theta, level, optimizer="gd", lr=0.2)
    assert res.all_reached and res.theta.shape == (4, 3) and res.loss.shape == (4,)
    for r in range(4):  # reference: plain GD on one row, stopping at loss <= level
        x, k = theta[r : r + 1].clone(), 0
        while float(prob.loss(x)) > level:
            x, k = x - 0.2 * prob.grad(x), k + 1
        assert_close(res.theta[r], x[0], what=f"row {r}")
        assert int(res.steps[r]) == k
    for opt in ("armijo", "adam"):
        out = train_to_level(prob, theta, level, optimizer=opt, lr=0.1 if opt == "adam" else None)
        assert out.all_reached and bool((out.loss <= level).all())


def test_module_loss_minima_connect():
    torch.manual_seed(0)  # only the module's own (unused) initial parameters
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    X = torch.tensor([[-1.0], [-0.4], [0.3], [0.9]], dtype=torch.float64)
    prob = ModuleLoss(model, X, torch.sin(2 * X))
    level = 2e-3
    start = prob.init(2, generator=torch.Generator().manual_seed(3))
    ends = train_to_level(prob, start, 0.5 * level)  # endpoints inside the level set
    assert ends.all_reached
    res = dynamic_string(prob, ends.theta[0], ends.theta[1], level)
    p = res.path
    assert p.status == "connected" and p.max_loss <= level
    assert p.normalized_length >= 1.0
    assert p.beads.shape == (p.n_beads + 2, prob.n_params)


def test_as_row_has_the_store_columns():
    res = dynamic_string(DoubleWell(dim=1), [-1.0], [1.0], 0.5)
    row = res.as_row()
    assert set(row) == set(STRING_COLUMNS)
    assert row["stop"] in STRING_STOP and row["depth"] == 1
    assert row["beads_per_depth"].tolist() == [1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": 0.0}, "not above the loss"),
        ({"level": float("nan")}, "level must be a finite number"),
        ({"alpha": 1.0}, r"alpha must be in \(0, 1\)"),
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\)"),
        ({"theta_b": [1.0, 2.0]}, "theta_b"),
        ({"theta_a": [float("nan")]}, "theta_a contains NaN"),
        ({"points": 2}, "points must be an integer >= 3"),
        ({"max_depth": -1}, "max_depth must be an integer >= 0"),
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"optimizer": "gd"}, "needs a learning rate"),
        ({"jitter": -1.0}, "jitter must be"),
    ],
)
def test_bad_inputs(kwargs, match):
    args = {"theta_a": [-1.0], "theta_b": [1.0], "level": 0.5, **kwargs}
    prob = DoubleWell(dim=1)
    with pytest.raises(ValueError, match=match) as err:
        dynamic_string(prob, args.pop("theta_a"), args.pop("theta_b"), args.pop("level"), **args)
    assert ONE_SENTENCE.match(str(err.value)), str(err.value)


def test_train_to_level_bad_inputs():
    prob = DoubleWell(dim=2)
    with pytest.raises(ValueError, match="theta contains NaN"):
        train_to_level(prob, [[0.0, float("nan")]], 0.1)
    with pytest.raises(ValueError, match="level must be a finite number"):
        train_to_level(prob, [[0.0, 0.5]], float("inf"))
