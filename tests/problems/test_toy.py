"""The toy potentials: closed forms against autograd, and Mueller-Brown's stationary points."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev, vmap

from _tolerances import assert_close
from landscope.problems import DoubleWell, MuellerBrown, Problem, Quadratic

F64 = torch.float64


def _newton(problem, x: torch.Tensor, iters: int = 30) -> torch.Tensor:
    for _ in range(iters):
        x = x - torch.linalg.solve(problem.hessian(x), problem.grad(x)[..., None])[..., 0]
    return x


def _problems():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(4, 4, generator=g, dtype=F64)
    return [MuellerBrown(), DoubleWell(dim=3), Quadratic(M + M.T, center=torch.ones(4))]


@pytest.mark.parametrize("problem", _problems(), ids=["mueller_brown", "double_well", "quad"])
def test_closed_forms_match_autograd(problem):
    assert isinstance(problem, Problem)
    x = problem.init(6, generator=torch.Generator().manual_seed(1))
    assert x.shape == (6, problem.n_params) and x.dtype == F64

    def row(r):
        return problem.loss(r[None])[0]

    H = vmap(jacrev(jacrev(row)))(x)  # reverse over reverse: no jvp
    xg = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(problem.loss(xg).sum(), xg)
    loss, grad = problem.loss_and_grad(x)
    assert loss.shape == (6,) and grad.shape == x.shape
    # loosened: the Mueller-Brown terms reach |A exp(.)| ~ 1e3 and curvature ~ 4e3
    assert_close(grad, g, rtol=1e-12, atol=1e-10, what="grad")
    assert_close(problem.hessian(x), H, rtol=1e-12, atol=1e-9, what="hessian")
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=F64)
    assert_close(problem.hvp(x, v), (H @ v[..., None])[..., 0], rtol=1e-12, atol=1e-9, what="hvp")


def test_mueller_brown_stationary_points():
    mb = MuellerBrown()
    pts = torch.tensor([p[:2] for p in mb.MINIMA + mb.SADDLES], dtype=F64)
    energy = torch.tensor([p[2] for p in mb.MINIMA + mb.SADDLES], dtype=F64)
    x = _newton(mb, pts)
    assert (torch.linalg.vector_norm(mb.grad(x), dim=1) < 1e-10).all()
    assert_close(x, pts, atol=1e-3, rtol=0, what="stationary points (3 digits quoted)")
    assert_close(mb.loss(x), energy, atol=1e-2, rtol=0, what="energies (2 decimals quoted)")
    n_negative = (torch.linalg.eigvalsh(mb.hessian(x)) < 0).sum(1)
    assert n_negative.tolist() == [0, 0, 0, 1, 1]
    # the deepest minimum is also the lowest point found by descent from the whole box
    start = mb.init(64, generator=torch.Generator().manual_seed(3))
    for _ in range(3000):
        start = start - 1e-4 * mb.grad(start)
    assert float(mb.loss(start).min()) == pytest.approx(float(mb.loss(x[:1])), abs=1e-6)


def test_double_well_and_quadratic_facts():
    dw = DoubleWell(dim=2)
    corners = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [0.0, 1.0], [0.0, 0.0]], dtype=F64)
    assert_close(dw.loss(corners), torch.tensor([0.0, 0.0, 1.0, 2.0], dtype=F64), what="loss")
    assert dw.global_min == 0.0
    q = Quadratic(torch.diag(torch.tensor([1.0, -1.0], dtype=F64)))
    assert q.global_min is None
    assert Quadratic(torch.eye(2, dtype=F64)).global_min == 0.0


def test_distance_to_global():
    dw = DoubleWell(dim=2)
    pts = torch.tensor([[1.0, -1.0], [0.5, -1.5], [0.0, 2.0]], dtype=F64)
    assert_close(dw.distance_to_global(pts), torch.tensor([0.0, 0.5**0.5, 2**0.5], dtype=F64))
    # a PSD A of rank 1: the minimizers are the line c + t e_2, and only the e_1 part counts
    q = Quadratic(torch.diag(torch.tensor([2.0, 0.0], dtype=F64)), center=torch.ones(2))
    pts = torch.tensor([[1.0, 5.0], [4.0, -3.0]], dtype=F64)
    assert_close(q.distance_to_global(pts), torch.tensor([0.0, 3.0], dtype=F64))
    assert_close(q.loss(pts[:1]), torch.zeros(1, dtype=F64))
    indefinite = Quadratic(torch.diag(torch.tensor([1.0, -1.0], dtype=F64)))
    assert indefinite.distance_to_global(pts) is None  # unbounded below: no minimizer


def test_no_declared_symmetry():
    # the double well's coordinate permutations and sign flips are not neuron permutations
    assert {p.symmetry for p in _problems()} == {None}


def test_bad_input_raises():
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        DoubleWell(dim=0)
    with pytest.raises(ValueError, match="symmetric"):
        Quadratic(torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="square"):
        Quadratic(torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ValueError, match="center has shape"):
        Quadratic(torch.eye(2, dtype=F64), center=torch.zeros(3))
    with pytest.raises(ValueError, match="theta has shape"):
        MuellerBrown().loss(torch.zeros(2, 3, dtype=F64))
